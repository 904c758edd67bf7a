"""Monolingual source formats as plain generators over a file's lines (bytes).

Each reader yields :class:`~babelshard.records.TextSample` (one per non-empty line or
JSON object, keyed by source, file and line) or a :class:`~babelshard.stats.Drop`.
Structure lines (blank document separators, ``<doc>`` tags, Wikipedia titles) are
markup, not records. The Beam side opens the file (any Beam file system, compressed
or not) and hands the lines here.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Iterator

from babelshard.records import TextSample, stable_key
from babelshard.stats import Drop, Reason

STAGE = "read"


class ReadReason(Reason):
    """Drop reasons of reading text and parallel sources."""

    INVALID_UTF8 = "invalid_utf8", "a line (a side, a .po entry) that is not UTF-8"
    MALFORMED = "malformed", (
        "a JSONL line that is not an object with the text (or id) field; a TSV line with too few columns "
        "or a score that is not a number"
    )
Lines = Iterable[bytes]
_DOC_OPEN = re.compile(rb"^<doc(\s[^>]*)?>\s*$")
_DOC_CLOSE = re.compile(rb"^</doc>\s*$")


def decode_line(raw: bytes, key: str) -> str | Drop:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        return Drop(key, STAGE, ReadReason.INVALID_UTF8, detail=str(error)[:120])


def line_key(source_name: str, relname: str, number: int) -> str:
    return stable_key(source_name, relname, str(number))


def read_cc100(lines: Lines, source, relname: str) -> Iterator[TextSample | Drop]:
    """CC-100 style: one sentence or paragraph per line, a blank line between documents."""
    name, language = source.name, source.language
    for number, raw in enumerate(lines, start=1):
        if not raw or raw.isspace():
            continue  # a document boundary
        key = line_key(name, relname, number)
        text = decode_line(raw, key)
        yield text if isinstance(text, Drop) else TextSample(key, text, language, name)


def read_wikipedia(lines: Lines, source, relname: str) -> Iterator[TextSample | Drop]:
    """WikiExtractor output (``<doc ...>`` title line, paragraphs, ``</doc>``) or plain paragraphs per line."""
    expect_title = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if _DOC_OPEN.match(raw):
            expect_title = True
            continue
        if _DOC_CLOSE.match(raw):
            expect_title = False
            continue
        if expect_title:
            expect_title = False  # WikiExtractor repeats the title as the first line
            continue
        yield _line_record(raw, source, relname, number)


def read_jsonl(lines: Lines, source, relname: str) -> Iterator[TextSample | Drop]:
    """One JSON object per line; the text at ``source.text_field``, the key from ``source.id_field`` or the line."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        key = line_key(source.name, relname, number)
        text = decode_line(raw, key)
        if isinstance(text, Drop):
            yield text
            continue
        yield _json_record(text, key, source)


def _json_record(line: str, key: str, source) -> TextSample | Drop:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        return Drop(key, STAGE, ReadReason.MALFORMED, detail=f"not JSON: {error}"[:120])
    text = field_value(obj, source.text_field)
    if not isinstance(text, str):
        return Drop(key, STAGE, ReadReason.MALFORMED, detail=f"no string at {source.text_field!r}")
    if source.id_field is not None:
        identity = field_value(obj, source.id_field)
        if identity is None:
            return Drop(key, STAGE, ReadReason.MALFORMED, detail=f"no id at {source.id_field!r}")
        key = stable_key(source.name, str(identity))
    return TextSample(key=key, text=text, language=source.language, source=source.name)


def field_value(obj: Any, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; None when any step is missing."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _line_record(raw: bytes, source, relname: str, number: int) -> TextSample | Drop:
    key = line_key(source.name, relname, number)
    text = decode_line(raw, key)
    if isinstance(text, Drop):
        return text
    return TextSample(key=key, text=text, language=source.language, source=source.name)


TEXT_READERS: dict[str, Callable[[Lines, Any, str], Iterator[TextSample | Drop]]] = {
    "cc100": read_cc100,
    "wikipedia": read_wikipedia,
    "jsonl": read_jsonl,
}
