"""A small real English->13-language lexicon from the CLDR emoji names in ``emoji``.

The ``emoji`` package carries each emoji's CLDR short name in 14 languages
(``🐶``: en "dog face", de "hundegesicht", fr "tête de chien"). Names are aligned as
whole terms, never word by word inside a name, and only where that is sensible:

- a one-word English name pairs with the target name of at most ``max_target_words``
  words ("bicycle" -> "vélo", "house" -> "casa");
- a longer English name (up to ``max_source_words`` words) pairs with the whole
  target name as a phrase ("red apple" -> "roter apfel"), which the code-switch
  transform matches longest-first;
- names with a qualifier after a colon ("flag: Germany", skin tones, "keycap: 1")
  are skipped (``qualified_name``), as are flags, whose English name is the bare
  country while the others say "flag of" (``flag``), and names that are the same in
  both languages apart from case (``untranslated``).

Scores count the emoji that give the pair. The package lowercases names, so nouns in
German come out lowercase; that is the data, not a bug here.
"""
from __future__ import annotations

from collections import defaultdict

from babelshard.codeswitch.languages import normalize_language
from babelshard.codeswitch.lexfile import LexiconError, Pair
from babelshard.stats import StageStats

STAGE = "cldr"


def _is_flag(char: str) -> bool:
    """Country and subdivision flags: their English name is the country, other names say "flag"."""
    return any(0x1F1E6 <= ord(ch) <= 0x1F1FF or 0xE0020 <= ord(ch) <= 0xE007F for ch in char)


def _name(value: str) -> str:
    return " ".join(value.strip(":").replace("_", " ").split())


def emoji_names() -> tuple[list[str], list[dict[str, str]]]:
    """The target languages and, per emoji, its name per language (``en`` included)."""
    try:
        import emoji
        from emoji import unicode_codes
    except ImportError:
        raise LexiconError("the CLDR lexicon needs the `emoji` package: pip install 'babelshard[demo]'") from None
    languages = [lang for lang in unicode_codes.LANGUAGES if lang != "en"]
    emoji.config.load_language(list(unicode_codes.LANGUAGES))
    rows = []
    for char, data in unicode_codes.EMOJI_DATA.items():
        names = {lang: _name(data[lang]) for lang in ["en", *languages] if isinstance(data.get(lang), str)}
        names["flag"] = "yes" if _is_flag(char) else ""
        rows.append(names)
    return languages, rows


def import_cldr(max_source_words: int = 3, max_target_words: int = 3, stats: StageStats | None = None) -> list[Pair]:
    stats = stats if stats is not None else StageStats()
    languages, rows = emoji_names()
    origin = f"{STAGE}:emoji"
    scores: dict[tuple[str, str, str], float] = defaultdict(float)
    for names in rows:
        english = names.get("en", "")
        for lang in languages:
            target = names.get(lang)
            if not english or not target:
                continue
            stats.inputs += 1
            reason = "flag" if names["flag"] else _pair_problem(english, target, max_source_words, max_target_words)
            if reason:
                stats.drop(STAGE, reason)
                continue
            scores[(english, normalize_language(lang), target)] += 1.0
    if not scores:
        raise LexiconError("the emoji package gave no CLDR names")
    pairs = [Pair("en", en, lang, target, score, origin) for (en, lang, target), score in sorted(scores.items())]
    stats.outputs += len(pairs)
    return pairs


def _pair_problem(english: str, target: str, max_source_words: int, max_target_words: int) -> str | None:
    if ":" in english or ":" in target or "," in english or "skin tone" in english or english.startswith("keycap"):
        return "qualified_name"
    if english.casefold() == target.casefold():
        return "untranslated"
    words = len(english.split())
    if words > max_source_words:
        return "long_phrase"
    if len(target.split()) > max_target_words:
        return "long_phrase"
    return None
