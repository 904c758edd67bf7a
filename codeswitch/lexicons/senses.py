"""Which dictionary senses and terms make good code-switching pairs (FreeDict rules).

Plain functions over parsed senses; every rejected pair is counted by reason.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Iterator, Protocol

from babelshard.stats import StageStats

# Domain tags (Ding/FreeDict English and Czech abbreviations) of specialised senses.
TECHNICAL_TAGS = frozenset(
    """techn. tech. med. chem. fin. econ. ekon. comp. výp. min. electr. el. adm. jur. práv. constr. stav.
    mil. voj. geol. phys. fyz. math. mat. envir. mach. telco. biochem. pharm. statist. sci. aviat. naut.
    print ling. astron. meteo. textil. agr. zem. pol. soc. psych. phil. relig. náb. lit. arch. stud. biol.
    bio. hist. žel. transp. electron. eko""".split()
)
# Obsolete, rare, poetic or offensive: never what a caption word means.
REGISTER_TAGS = frozenset("veraltet veraltend alt obs. selten pej. vulg. poet. bás. archaic dated".split())
# Articles a target may carry although the English term has none ("der Reitsport").
ARTICLES = {
    "de": ("der", "die", "das", "ein", "eine"),
    "fr": ("le", "la", "les", "un", "une", "l'", "l’"),
    "es": ("el", "la", "los", "las", "un", "una"),
    "it": ("il", "lo", "la", "i", "gli", "le", "un", "una", "l'", "l’"),
    "pt": ("o", "a", "os", "as", "um", "uma"),
}
_PLACEHOLDER = re.compile(r"(?:^|[\s(/])(?:etw|jdm|jdn|jds|jd|sth|sb|so|sby|o\.s|s\.o|s\.th)\.|…|\.\.\.|\bsb's\b|^(?:viz|see|siehe|voir|véase)\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]$")
_STRESS = re.compile(r"[ˈˌːˑ\s.‿ʰ'ʔ]")


class SenseLike(Protocol):
    headword: str
    targets: tuple[str, ...]
    tags: frozenset[str]
    ipa: str


def _drop_bracketed(text: str) -> str:
    previous = None
    while previous != text:  # innermost first, so nesting is handled
        previous = text
        text = re.sub(r"\([^()]*\)|\{[^{}]*\}|<[^<>]*>", " ", text)
    return text


def split_targets(line: str) -> list[str]:
    """Translation line -> candidate target terms (marks and parentheses removed)."""
    cleaned = _drop_bracketed(line)
    return [" ".join(part.split()) for part in re.split(r"[,;]", cleaned)]


def term_problem(term: str, max_words: int) -> str | None:
    """Why a headword or target is no use, or ``None``."""
    if not term or not any(ch.isalnum() for ch in term):
        return "empty"
    if _PLACEHOLDER.search(term):
        return "placeholder"
    if any(ch in term for ch in '/()[]{}<>"=+|@#'):
        return "malformed"
    if _SENTENCE_END.search(term) and (" " in term or len(term) > 12):
        return "sentence"
    if len(term.split()) > max_words:
        return "long_phrase"
    if any(a.islower() and b.isupper() for word in term.split() for a, b in zip(word, word[1:])):
        return "broken_multiword"  # "CruzRoja": the space between two words was lost
    return None


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def _ipa_core(ipa: str) -> str:
    return unicodedata.normalize("NFC", _STRESS.sub("", ipa))


def broken_heads(group: list[SenseLike]) -> set[str]:
    """Pronunciations in one headword group that belong to a longer, truncated phrase.

    Old FreeDict dictionaries index "house charge" as "house /haustʃɑːdʒ/": the
    pronunciation extends that of "house" itself, or is far longer than the word.
    """
    cores = {_ipa_core(s.ipa) for s in group if s.ipa}
    broken = set()
    for sense in group:
        core = _ipa_core(sense.ipa)
        if not core or " " in sense.headword.strip() or sense.headword.isupper():
            continue
        extends = any(other != core and len(other) >= 2 and core.startswith(other) for other in cores)
        if extends or len(core) - _letters(sense.headword) >= 4:
            broken.add(sense.ipa)
    return broken


def strip_article(target: str, language: str, headword: str) -> str:
    articles = ARTICLES.get(language, ())
    if not articles or headword.casefold().split(" ", 1)[0] in ("the", "a", "an"):
        return target
    lowered = target.casefold()
    for article in articles:
        if article.endswith(("'", "’")) and lowered.startswith(article) and len(target) > len(article) + 1:
            return target[len(article):]
        if lowered.startswith(article + " ") and " " in target.strip():
            return target[len(article) + 1 :]
    return target


def usable_senses(group: list[SenseLike], stats: StageStats, stage: str) -> Iterator[SenseLike]:
    """Drop register-tagged senses always, technical ones where a general sense exists."""
    general = [s for s in group if not (s.tags & TECHNICAL_TAGS) and not (s.tags & REGISTER_TAGS)]
    for sense in group:
        if sense.tags & REGISTER_TAGS:
            stats.drop(stage, "register", len(sense.targets))
        elif sense.tags & TECHNICAL_TAGS and general:
            stats.drop(stage, "technical_sense", len(sense.targets))
        else:
            yield sense


def select_pairs(group: list[SenseLike], target_language: str, max_words: int,
                 stats: StageStats, stage: str) -> Iterable[tuple[SenseLike, str]]:
    """The (sense, target) pairs of one headword group worth keeping."""
    broken = broken_heads(group)
    for sense in usable_senses(group, stats, stage):
        head_problem = "broken_multiword" if sense.ipa in broken else term_problem(sense.headword, max_words)
        if head_problem:
            stats.drop(stage, head_problem, len(sense.targets))
            continue
        for target in sense.targets:
            target = strip_article(target, target_language, sense.headword)
            problem = term_problem(target, max_words)
            if problem:
                stats.drop(stage, problem)
                continue
            yield sense, target
