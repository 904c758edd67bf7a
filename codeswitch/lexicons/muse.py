"""MUSE bilingual dictionaries (``src tgt`` per line, space or tab separated).

MUSE gives no scores; every line scores 1 and a repeated line adds up. Lines that do
not have exactly two fields, or are not UTF-8, are counted skips.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict

from babelshard import fs
from babelshard.codeswitch.languages import pair_languages
from babelshard.codeswitch.lexfile import LexiconError, Pair
from babelshard.stats import StageStats

STAGE = "muse"
_FILE_LANGS = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:[._].*)?\.txt$")


def languages_from_filename(path: str, source: str | None = None, target: str | None = None) -> tuple[str, str]:
    """``en-de.txt`` / ``en-de.0-5000.txt`` -> ``("en", "de")``; languages given explicitly win."""
    return pair_languages(path, _FILE_LANGS, "en-de.txt", source, target)


def parse_muse_line(raw: bytes) -> tuple[str, str] | str:
    """``(source, target)`` or the skip reason."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8"
    fields = line.split()
    if not fields:
        return "blank"
    if len(fields) != 2:
        return "malformed_line"
    return fields[0], fields[1]


def import_muse(url: str, source_language: str | None = None, target_language: str | None = None,
                stats: StageStats | None = None) -> list[Pair]:
    stats = stats if stats is not None else StageStats()
    src, tgt = languages_from_filename(url, source_language, target_language)
    origin = f"{STAGE}:{os.path.basename(url)}"
    scores: dict[tuple[str, str], float] = defaultdict(float)
    for raw in fs.read_bytes(url).splitlines():
        parsed = parse_muse_line(raw)
        if parsed == "blank":
            continue
        stats.inputs += 1
        if isinstance(parsed, str):
            stats.drop(STAGE, parsed)
            continue
        scores[parsed] += 1.0
    if not scores:
        raise LexiconError(f"{url}: no `source target` lines (empty, or every line malformed: {dict(stats.drops)})")
    pairs = [Pair(src, s, tgt, t, score, origin) for (s, t), score in sorted(scores.items())]
    stats.outputs += len(pairs)
    return pairs
