"""FreeDict (dictd) English->L dictionaries into normalized lexicon pairs.

An entry is a headword line (``dog /dˈɒɡ/``, maybe an abbreviation in parentheses
or a part of speech in ``<>``), then translation lines (one sense per line; older
dictionaries number them ``1. ...``), then indented notes, examples (quoted) and
cross-references. What is kept, and why:

- translations are split at commas; gender/POS marks ``<...>``, parentheses and
  braces are removed; targets with placeholders (``etw.``, ``sb.``, ``…``), slashes
  or unbalanced brackets are skipped (``placeholder`` / ``malformed``);
- technical senses (a domain tag like ``[techn.]``, ``[comp.]``) are skipped when the
  headword has a general sense too (``technical_sense``); a headword with only
  technical senses keeps them ("computer" is [comp.]);
- obsolete, rare and offensive senses are always skipped (``register``);
- broken multi-word entries, where the index kept only the first word of a phrase
  ("house /haustʃɑːdʒ/" for "house charge") or glued the words of a target together
  ("CruzRoja"), are skipped (``broken_multiword``);
- headwords and targets longer than ``max_words`` words or that are sentences are
  skipped (``long_phrase`` / ``sentence``).

Score: 1 + the number of usage examples of the sense, summed over the entries that
give the pair; examples mark the common senses in FreeDict's larger dictionaries.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass

from babelshard.codeswitch.lexicons import senses
from babelshard.codeswitch.lexicons.dictd import iter_entries
from babelshard.codeswitch.languages import pair_languages
from babelshard.codeswitch.lexfile import LexiconError, Pair
from babelshard.stats import StageStats

STAGE = "freedict"
_IPA = re.compile(r"\s/(?P<ipa>[^/]*)/")
_FILE_LANGS = re.compile(r"(?:^|[^a-z])([a-z]{3})-([a-z]{3})(?:\.index)?$")


@dataclass(frozen=True)
class Sense:
    headword: str
    targets: tuple[str, ...]
    tags: frozenset[str]
    examples: int
    ipa: str


def languages_from_filename(path: str, source: str | None = None, target: str | None = None) -> tuple[str, str]:
    """``freedict-eng-deu.index`` -> ``("en", "de")``; languages given explicitly win."""
    return pair_languages(path, _FILE_LANGS, "freedict-eng-deu.index", source, target)


def parse_headword(line: str) -> tuple[str, str]:
    """The headword and its pronunciation (empty when the dictionary gives none)."""
    line = re.sub(r"<[^>]*>", " ", line).strip()
    match = _IPA.search(line)
    head = line[: match.start()] if match else line
    ipa = match.group("ipa") if match else ""
    head = re.sub(r"\s*\(\S+\)\s*$", "", head)  # a trailing abbreviation "(BOT)"; a longer aside stays and marks it malformed
    return " ".join(head.split()), ipa


def parse_entry(text: str) -> list[Sense]:
    """Every sense of one dictd entry: one per translation line."""
    lines = text.split("\n")
    headword, ipa = parse_headword(lines[0])
    examples = sum(1 for line in lines[1:] if line[:1].isspace() and line.strip().startswith('"'))
    sense_lines = [lines[1]] if len(lines) > 1 else []
    sense_lines += [line for line in lines[2:] if line.strip() and not line[:1].isspace()]
    found = []
    for line in sense_lines:
        line = re.sub(r"^\s*\d+\.\s*", "", line.strip())
        tags = frozenset(tag.strip() for tag in re.findall(r"\[([^\]]*)\]", line))
        targets = tuple(t for t in senses.split_targets(re.sub(r"\[[^\]]*\]", " ", line)) if t)
        if targets:
            found.append(Sense(headword, targets, tags, examples, ipa))
    return found


def read_senses(index_path: str, stats: StageStats) -> dict[str, list[Sense]]:
    """All senses grouped by case-folded headword, index order kept."""
    grouped: dict[str, list[Sense]] = defaultdict(list)
    for entry in iter_entries(index_path, stats):
        parsed = parse_entry(entry.text)
        if not parsed:
            stats.drop(STAGE, "no_translation")
        for sense in parsed:
            grouped[sense.headword.casefold()].append(sense)
    return grouped


def import_freedict(index_path: str, source_language: str | None = None, target_language: str | None = None,
                    max_words: int = 4, stats: StageStats | None = None) -> list[Pair]:
    """Pairs of one FreeDict dictionary; skips are counted in ``stats`` by reason."""
    stats = stats if stats is not None else StageStats()
    src, tgt = languages_from_filename(index_path, source_language, target_language)
    origin = f"{STAGE}:{os.path.basename(index_path).removesuffix('.index').removeprefix('freedict-')}"
    scores: dict[tuple[str, str], float] = defaultdict(float)
    for group in read_senses(index_path, stats).values():
        for sense, target in senses.select_pairs(group, tgt, max_words, stats, STAGE):
            scores[(sense.headword, target)] += 1.0 + sense.examples
    if stats.inputs == 0:
        raise LexiconError(f"{index_path}: no dictionary entries (empty or not a dictd index)")
    pairs = [Pair(src, head, tgt, target, score, origin) for (head, target), score in sorted(scores.items())]
    stats.outputs += len(pairs)
    return pairs
