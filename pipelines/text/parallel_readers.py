"""Parallel corpus formats as plain generators: WikiMatrix and other TSV, Moses line
pairs, TMX and gettext .po.

Each reader yields :class:`~babelshard.records.ParallelPair` or a
:class:`~babelshard.stats.Drop`. Line-based readers take an iterable of ``bytes``
lines; TMX takes a binary file object (streamed with ``iterparse``). Moses takes the
two files' lines and walks them in lockstep, so alignment holds by construction.
"""
from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from typing import IO, Any, Iterable, Iterator

from babelshard.records import ParallelPair, stable_key
from babelshard.stats import Drop, Reason
from babelshard.pipelines.text.po import iter_po_entries
from babelshard.pipelines.text.readers import ReadReason, decode_line, line_key

STAGE = "read"  # also ReadReason: invalid_utf8, malformed


class PairReadReason(Reason):
    """Drop reasons of reading parallel sources, besides :class:`ReadReason`."""

    UNALIGNED = "unaligned", "a Moses line with no partner (the two files differ in length)"
    MISSING_SIDE = "missing_side", "a TMX unit without a <tuv> in one of the two languages"
    UNTRANSLATED = "untranslated", "a .po entry with an empty msgstr"
    FUZZY = "fuzzy", "a .po entry flagged fuzzy (unreviewed), unless include_fuzzy"
    OBSOLETE = "obsolete", "a #~ (obsolete) .po entry"
Lines = Iterable[bytes]
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_COMPRESSED = r"(\.(?:gz|xz|bz2|zst|zstd|lzma|deflate))?"


def make_pair(source, key: str, src_text: str, tgt_text: str, score: float | None = None) -> ParallelPair:
    return ParallelPair(
        key=key,
        source_language=source.source_language,
        target_language=source.target_language,
        source_text=src_text,
        target_text=tgt_text,
        source=source.name,
        score=score,
    )


def read_tsv(lines: Lines, source, relname: str) -> Iterator[ParallelPair | Drop]:
    """Tab-separated pairs; WikiMatrix is score, source, target."""
    columns = tsv_columns(source)
    needed = max(c for c in columns if c is not None) + 1
    for number, raw in enumerate(lines, start=1):
        if number == 1 and getattr(source, "skip_header", False):
            continue
        if not raw.strip():
            continue
        key = line_key(source.name, relname, number)
        line = decode_line(raw, key)
        if isinstance(line, Drop):
            yield line
            continue
        yield _tsv_pair(line.split("\t"), columns, needed, source, key)


def tsv_columns(source) -> tuple[int, int, int | None]:
    if source.format == "wikimatrix":
        return 1, 2, 0
    return source.source_column, source.target_column, source.score_column


def _tsv_pair(fields: list[str], columns, needed: int, source, key: str) -> ParallelPair | Drop:
    if len(fields) < needed:
        return Drop(key, STAGE, ReadReason.MALFORMED, detail=f"{len(fields)} columns, need {needed}")
    src_col, tgt_col, score_col = columns
    score = None
    if score_col is not None:
        try:
            score = float(fields[score_col])
        except ValueError:
            return Drop(key, STAGE, ReadReason.MALFORMED, detail=f"score {fields[score_col][:20]!r} is not a number")
    return make_pair(source, key, fields[src_col], fields[tgt_col], score)


def moses_target_path(path: str, source_language: str, target_language: str) -> str:
    """``corpus.de-en.de(.gz)`` -> ``corpus.de-en.en(.gz)`` (the OPUS Moses naming)."""
    pattern = re.compile(rf"\.{re.escape(source_language)}{_COMPRESSED}$")
    if not pattern.search(path):
        raise ValueError(f"{path}: a Moses source file must end in .{source_language} (optionally compressed)")
    return pattern.sub(lambda m: f".{target_language}{m.group(1) or ''}", path)


def read_moses(source_lines: Lines, target_lines: Lines, source, relname: str) -> Iterator[ParallelPair | Drop]:
    """Line n of the source file with line n of the target file; extra lines on either side are ``unaligned``."""
    pairs = itertools.zip_longest(source_lines, target_lines)
    for number, (src_raw, tgt_raw) in enumerate(pairs, start=1):
        key = line_key(source.name, relname, number)
        if src_raw is None or tgt_raw is None:
            side = "target" if src_raw is None else "source"
            yield Drop(key, STAGE, PairReadReason.UNALIGNED, detail=f"line {number} only in the {side} file")
            continue
        src_text, tgt_text = decode_line(src_raw, key), decode_line(tgt_raw, key)
        if isinstance(src_text, Drop) or isinstance(tgt_text, Drop):
            yield src_text if isinstance(src_text, Drop) else tgt_text
            continue
        yield make_pair(source, key, src_text, tgt_text)


def language_matches(code: str, wanted: str) -> bool:
    """``en-US`` matches ``en``; ``zh-Hant`` matches ``zh-Hant`` and ``zh`` (case and _/- ignored)."""
    have = code.strip().lower().replace("_", "-")
    want = wanted.strip().lower().replace("_", "-")
    return have == want or (have.split("-")[0] == want and "-" not in want)


def read_tmx(stream: IO[bytes], source, relname: str) -> Iterator[ParallelPair | Drop]:
    """Translation units (``<tu>``) with one ``<tuv>`` per language; streamed, memory stays flat."""
    parent = None
    number = 0
    for event, element in ET.iterparse(stream, events=("start", "end")):
        if event == "start":
            if element.tag == "body":
                parent = element
            continue
        if element.tag != "tu":
            continue
        number += 1
        yield _tmx_pair(element, source, stable_key(source.name, relname, str(number)))
        if parent is not None:
            parent.clear()  # forget finished units


def _tmx_pair(unit: ET.Element, source, key: str) -> ParallelPair | Drop:
    segments: dict[str, str] = {}
    for variant in unit.iter("tuv"):
        code = variant.get(XML_LANG) or variant.get("lang") or ""
        seg = variant.find("seg")
        if seg is None:
            continue
        for wanted in (source.source_language, source.target_language):
            if wanted not in segments and language_matches(code, wanted):
                segments[wanted] = segment_text(seg)
    missing = [lang for lang in (source.source_language, source.target_language) if lang not in segments]
    if missing:
        return Drop(key, STAGE, PairReadReason.MISSING_SIDE, detail=f"no <tuv> for {', '.join(missing)}")
    return make_pair(source, key, segments[source.source_language], segments[source.target_language])


def segment_text(element: ET.Element) -> str:
    """Text of a ``<seg>``: inline ``<hi>``/``<sub>`` text kept; native codes (``<bpt>``, ``<ph>``...) left out."""
    parts = [element.text or ""]
    for child in element:
        if child.tag in ("hi", "sub"):
            parts.append(segment_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def read_po(lines: Lines, source, relname: str) -> Iterator[ParallelPair | Drop]:
    """msgid/msgstr pairs (singular form); header skipped; fuzzy, obsolete and untranslated entries dropped."""
    for entry in iter_po_entries(lines):
        if entry.msgid == "" and not entry.obsolete:
            continue  # the header entry: metadata, not a message
        key = stable_key(source.name, relname, entry.msgctxt or "", entry.msgid)
        reason = po_problem(entry, source.include_fuzzy)
        if reason:
            yield Drop(key, STAGE, reason, detail=f"line {entry.line}: {entry.msgid[:60]}")
            continue
        yield make_pair(source, key, entry.msgid, entry.translation)


def po_problem(entry: Any, include_fuzzy: bool) -> Reason | None:
    if entry.invalid_utf8:
        return ReadReason.INVALID_UTF8
    if entry.obsolete:
        return PairReadReason.OBSOLETE
    if "fuzzy" in entry.flags and not include_fuzzy:
        return PairReadReason.FUZZY
    if not entry.translation:
        return PairReadReason.UNTRANSLATED
    return None
