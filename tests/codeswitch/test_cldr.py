"""The CLDR emoji-name lexicon: 13 languages, aligned only where sensible."""
from __future__ import annotations

from collections import Counter

from babelshard.codeswitch.lexicons.cldr import emoji_names, import_cldr
from babelshard.stats import StageStats


def test_thirteen_languages_from_the_emoji_package(cldr_pairs):
    languages, rows = emoji_names()
    assert len(languages) == 13 and "en" not in languages
    per_language = Counter(p.target_language for p in cldr_pairs)
    assert set(per_language) == set(languages)
    assert all(count > 500 for count in per_language.values())
    assert {p.source_language for p in cldr_pairs} == {"en"} and {p.origin for p in cldr_pairs} == {"cldr:emoji"}


def test_every_pair_is_the_same_emoji_named_in_both_languages(cldr_pairs):
    _, rows = emoji_names()
    named = {(row["en"], lang, row[lang]) for row in rows for lang in row if lang not in ("en", "flag") and "en" in row}
    assert all((p.source_term, p.target_language, p.target_term) in named for p in cldr_pairs)
    dog = {p.target_language: p.target_term for p in cldr_pairs if p.source_term == "dog"}
    assert dog["de"] == "hund" and dog["fr"] == "chien" and dog["es"] == "perro"


def test_flags_qualified_and_long_names_are_counted_skips():
    stats = StageStats()
    pairs = import_cldr(stats=stats)
    assert stats.drops["cldr/flag"] > 0 and stats.drops["cldr/qualified_name"] > 0
    assert not any("skin tone" in p.source_term or ":" in p.source_term for p in pairs)
    assert not any(p.source_term == "Germany" for p in pairs)  # its German name is "flagge deutschland"
    assert all(len(p.source_term.split()) <= 3 and len(p.target_term.split()) <= 3 for p in pairs)
    assert stats.inputs == stats.dropped + sum(p.score for p in pairs)
