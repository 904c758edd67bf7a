"""Caption sources as plain parsing functions: rows, lines and files to caption records.

Every input row becomes a :class:`CaptionSample` without an image, or a :class:`Drop`
with an enumerated reason: a row with bytes that are not UTF-8 or a field of the wrong
type is one row's problem (``bad_encoding``, ``malformed_row`` naming the field); a file
that cannot be read as its format at all is a :class:`SourceFileError` naming it. Keys
are ``stable_key(source name, URL)`` (or an identity column instead of the URL when the
source names one). COCO and Karpathy JSON are in
:mod:`babelshard.pipelines.captions.cocojson`; the Beam wiring is in
:mod:`babelshard.pipelines.captions.read`.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import posixpath
from collections import defaultdict
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

from babelshard.errors import UserError
from babelshard.fs import read_bytes
from babelshard.pipelines.captions.config import AlignedSource, FlickrTokenSource, TableSource
from babelshard.pipelines.captions.textfiles import UTF8_BOM, Line, text_problem
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.stats import Drop, reason_enum

STAGE = "read"
SNIPPET = 200  # characters of a bad line kept in its drop's detail


SourceReason = reason_enum("SourceReason", __name__)


Parsed = CaptionSample | Drop


class SourceFileError(UserError):
    """A caption file that cannot be read as its format at all (not text, not JSON, ...)."""


class Located(NamedTuple):
    """A drop of a line-format row whose detail still needs the line's number: the
    reader knows only its byte offset (see ``textfiles.line_numbers``)."""

    path: str
    offset: int
    drop: Drop


def snippet(text: str) -> str:
    return text[:SNIPPET]


def has_surrogates(text: str) -> bool:
    """True for text that cannot be written as UTF-8: bytes that were not UTF-8
    (decoded with ``surrogateescape``) or lone surrogates from JSON ``\\ud800`` escapes."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def unencodable_field(url: str, captions: Mapping[str, str], extra: Mapping[str, Iterable[str]], meta: Mapping[str, Any]) -> str | None:
    """The name of the first field that is not valid Unicode text, or None."""
    fields = [("url", url), *((f"caption {lang}", text) for lang, text in sorted(captions.items()))]
    fields += [(f"caption {lang}", text) for lang, texts in sorted(extra.items()) for text in texts]
    fields += [(name, value) for name, value in sorted(meta.items()) if isinstance(value, str)]
    return next((name for name, value in fields if value and has_surrogates(value)), None)


def resolve_url(location: str, image_root: str | None) -> str:
    """An absolute URL: as is when it has a scheme, else joined to ``image_root``.

    A local folder as ``image_root`` gives ``file://`` URLs (downloads need
    ``allow_file_urls``).
    """
    location = location.strip()
    if not location or "://" in location or image_root is None:
        return location
    if "://" in image_root:
        return posixpath.join(image_root.rstrip("/") + "/", location.lstrip("/"))
    return "file://" + os.path.abspath(os.path.join(image_root, location))


def make_record(
    source: str,
    url: str,
    captions: Mapping[str, str],
    *,
    identity: str | None = None,
    meta: Mapping[str, Any] | None = None,
    extra_captions: Mapping[str, Iterable[str]] | None = None,
) -> Parsed:
    """A caption record, or a drop when the URL or the English caption is missing or a
    field is not valid Unicode text."""
    bad = unencodable_field(url, captions, extra_captions or {}, meta or {})
    if bad is not None:
        safe = url.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        key = stable_key(source, "bad_encoding", (identity or safe).encode("utf-8", "surrogatepass").hex())
        return Drop(key, STAGE, SourceReason.BAD_ENCODING, detail=f"{bad} is not valid UTF-8 text", url=safe)
    key = stable_key(source, identity if identity else url)
    if not url:
        return Drop(stable_key(source, "no-url", identity or repr(sorted(captions.items()))), STAGE, SourceReason.MISSING_URL)
    english = captions.get("en", "")
    if not english or not english.strip():
        return Drop(key, STAGE, SourceReason.MISSING_CAPTION, url=url)
    return CaptionSample(
        key=key,
        source=source,
        url=url,
        captions={lang: Caption(text) for lang, text in sorted(captions.items()) if text is not None and text != ""},
        meta=dict(meta or {}),
        extra_captions={lang: tuple(texts) for lang, texts in sorted((extra_captions or {}).items()) if texts},
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    return str(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), type(value).__name__)


def _text_field(row: Mapping[str, Any], column: str) -> str:
    """A text cell; ``TypeError`` naming the column for a value of another type."""
    value = row.get(column)
    if value is None or isinstance(value, (str, bytes)):
        return _cell(value)
    raise TypeError(f"field {column} is {_type_name(value)}, expected a string")


def _caption_field(row: Mapping[str, Any], column: str, lists: bool) -> list[str]:
    """The captions in one cell: one string, or with ``lists`` a list of strings."""
    value = row.get(column)
    if lists and isinstance(value, (list, tuple)):
        if not all(isinstance(item, str) for item in value):
            raise TypeError(f"field {column} is a list with items that are not strings")
        return [item for item in value if item.strip()]
    if isinstance(value, (list, tuple)):
        raise TypeError(f"field {column} is a list: set caption_lists: true to read one caption per item")
    text = _text_field(row, column)
    return [text] if text else []


def table_row_to_record(row: Mapping[str, Any], src: TableSource) -> Parsed:
    """One img2dataset-style row (a dict of columns) to a record; a cell of the wrong
    type is a ``malformed_row`` drop naming its column."""
    try:
        url = resolve_url(_text_field(row, src.url_column), src.image_root)
        texts = {"en": _caption_field(row, src.caption_column, src.caption_lists)}
        for lang, column in src.language_columns.items():
            texts[lang] = _caption_field(row, column, src.caption_lists)
        hashed = _text_field(row, src.hash_column) if src.hash_column else ""
    except TypeError as error:
        raw = json.dumps(dict(sorted(row.items())), ensure_ascii=False, default=str)
        return Drop(stable_key(src.name, "malformed", raw), STAGE, SourceReason.MALFORMED_ROW, detail=f"{error}: {snippet(raw)}")
    meta = {column: _jsonable(row.get(column)) for column in src.extra_columns if column in row}
    if hashed:
        meta["sha256"] = hashed.strip().lower()
    identity = _cell(row.get(src.key_column)) if src.key_column else None
    captions = {lang: values[0] if values else "" for lang, values in texts.items()}
    extra = {lang: values[1:] for lang, values in texts.items() if len(values) > 1}
    return make_record(src.name, url, captions, identity=identity, meta=meta, extra_captions=extra)


def decode_line(line: Line, src: Any) -> str | Drop:
    """A line's text, or a ``bad_encoding`` drop (invalid UTF-8, NUL bytes). A UTF-8
    byte-order mark at the start of a file is not part of the first row."""
    data = line.data[len(UTF8_BOM):] if line.offset == 0 and line.data.startswith(UTF8_BOM) else line.data
    try:
        text = data.decode("utf-8")
        problem = "a NUL byte" if "\0" in text else None
    except UnicodeDecodeError as error:
        text, problem = None, f"invalid UTF-8 at byte {error.start}"
    if problem is None:
        return text
    shown = data.decode("utf-8", errors="replace").replace("\0", "\ufffd")
    return Drop(stable_key(src.name, "bad_encoding", data.hex()), STAGE, SourceReason.BAD_ENCODING, detail=f"{problem}: {snippet(shown)}")


def parse_line(line: Line, src: TableSource) -> Iterator[Parsed | Located]:
    """A TSV or JSONL line to a record; its bad-encoding and malformed drops as
    :class:`Located`, to be given the line's number."""
    if src.format == "tsv" and src.header and line.offset == 0:
        return
    text = decode_line(line, src)
    if isinstance(text, Drop):
        yield Located(line.path, line.offset, text)
        return
    if src.format == "jsonl" and not text.strip():
        return
    parsed = parse_tsv_line(text, src) if src.format == "tsv" else parse_jsonl_line(text, src)
    if isinstance(parsed, Drop) and parsed.reason == SourceReason.MALFORMED_ROW:
        yield Located(line.path, line.offset, parsed)
    else:
        yield parsed


def locate(drop: Drop, path: str, line_number: int) -> Drop:
    return dataclasses.replace(drop, detail=f"{path} line {line_number}: {drop.detail}")


def parse_tsv_line(line: str, src: TableSource) -> Parsed:
    """A CC3M/CC12M style line: tab-separated values named by ``src.columns``."""
    values = line.rstrip("\r\n").split("\t")
    columns = src.columns or []
    if len(values) != len(columns):
        detail = f"{len(values)} fields, expected {len(columns)}: {snippet(line)}"
        return Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
    return table_row_to_record(dict(zip(columns, values)), src)


def parse_jsonl_line(line: str, src: TableSource) -> Parsed:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        detail = f"not JSON: {error.msg}: {snippet(line)}"
        return Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
    if not isinstance(row, dict):
        detail = f"not a JSON object: {snippet(line)}"
        return Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
    return table_row_to_record(row, src)


def parse_csv_text(text: str, src: TableSource, path: str = "") -> Iterator[Parsed]:
    """A whole CSV file (quoted fields may hold newlines, so it is parsed per file);
    ``text`` is decoded with ``surrogateescape``, so rows with bad bytes can be told apart."""
    reader = csv.reader(io.StringIO(text))
    columns, first_line = src.columns, 1
    for values in reader:
        where = f"{path} line {first_line}: " if path else f"line {first_line}: "
        first_line = reader.line_num + 1
        raw = ",".join(values)
        if any(has_surrogates(value) for value in values):
            shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            key = stable_key(src.name, "bad_encoding", raw.encode("utf-8", "surrogateescape").hex())
            yield Drop(key, STAGE, SourceReason.BAD_ENCODING, detail=f"{where}invalid UTF-8: {snippet(shown)}")
            continue
        if columns is None:
            columns = values
            continue
        if not values:
            continue
        if len(values) != len(columns):
            detail = f"{where}{len(values)} fields, expected {len(columns)}: {snippet(raw)}"
            yield Drop(stable_key(src.name, "malformed", raw), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
            continue
        yield table_row_to_record(dict(zip(columns, values)), src)


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only: captions may hold other Unicode line separators."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def aligned_records(images_text: str, caption_texts: Mapping[str, str], src: AlignedSource) -> Iterator[Parsed]:
    """Multi30K style: line i of every caption file describes line i of the image list.

    An image listed more than once keeps its first caption per language as the caption
    and the rest as extra captions.
    """
    images = _lines(images_text)
    by_language = {lang: _lines(text) for lang, text in caption_texts.items()}
    for lang, lines in by_language.items():
        if len(lines) != len(images):
            raise SourceFileError(
                f"source {src.name}: {src.captions[lang]} has {len(lines)} lines but {src.path} lists {len(images)} images"
            )
    grouped: dict[str, dict[str, list[str]]] = {}
    for index, image in enumerate(images):
        entry = grouped.setdefault(image.strip(), defaultdict(list))
        for lang, lines in by_language.items():
            if lines[index].strip():
                entry[lang].append(lines[index])
    for image, texts in grouped.items():
        url = resolve_url(image, src.image_root)
        captions = {lang: values[0] for lang, values in texts.items()}
        extra = {lang: values[1:] for lang, values in texts.items()}
        yield make_record(src.name, url, captions, meta={"image": image}, extra_captions=extra)


def decode_file(path: str, data: bytes, src: Any) -> str:
    """A whole caption file's text. Bytes that are not UTF-8 survive as surrogates
    (their rows become ``bad_encoding`` drops); a file that is not UTF-8 text at all
    is a :class:`SourceFileError`."""
    problem = text_problem(data[:4096])
    if problem is not None:
        raise SourceFileError(f"source {src.name}: {path} is not UTF-8 text: it looks like {problem}; convert it to UTF-8")
    return data.decode("utf-8-sig", errors="surrogateescape")


def read_aligned(src: AlignedSource) -> Iterator[Parsed]:
    paths = {lang: path for lang, path in sorted(src.captions.items())}
    captions = {lang: decode_file(path, read_bytes(path), src) for lang, path in paths.items()}
    yield from aligned_records(decode_file(src.path, read_bytes(src.path), src), captions, src)


def flickr_token_records(text: str, src: FlickrTokenSource, path: str = "") -> Iterator[Parsed]:
    """``1000092795.jpg#0\\tTwo young guys ...``: grouped per image, ordered by the number."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for number_of_line, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        name, _, caption = line.partition("\t")
        image, _, number = name.partition("#")
        if not caption or not number.isdigit():
            shown = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            detail = f"{path} line {number_of_line}: expected image#n<TAB>caption: {snippet(shown)}"
            yield Drop(stable_key(src.name, "malformed", shown), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
            continue
        grouped[image].append((int(number), caption))
    for image, items in grouped.items():
        texts = [caption for _, caption in sorted(items)]
        url = resolve_url(image, src.image_root)
        yield make_record(src.name, url, {"en": texts[0]}, meta={"image": image}, extra_captions={"en": texts[1:]})


def parse_file(path: str, data: bytes, src: Any) -> Iterator[Parsed]:
    """Whole-file formats: CSV, COCO, Karpathy, Flickr token."""
    from babelshard.pipelines.captions.cocojson import parse_json_file

    text = decode_file(path, data, src)
    if isinstance(src, TableSource) and src.format == "csv":
        yield from parse_csv_text(text, src, path)
    elif isinstance(src, FlickrTokenSource):
        yield from flickr_token_records(text, src, path)
    else:
        yield from parse_json_file(path, text, src)
