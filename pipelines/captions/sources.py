"""Caption sources as plain parsing functions: rows, lines and files to caption records.

Every input row becomes a :class:`CaptionSample` without an image, or a :class:`Drop`
with an enumerated reason. Keys are ``stable_key(source name, URL)`` (or an identity
column instead of the URL when the source names one). The Beam wiring is in
:mod:`babelshard.pipelines.captions.read`.
"""
from __future__ import annotations

import csv
import io
import json
import os
import posixpath
from collections import defaultdict
from typing import Any, Iterable, Iterator, Mapping

from babelshard.fs import read_text
from babelshard.pipelines.captions.config import AlignedSource, CocoSource, FlickrTokenSource, KarpathySource, TableSource
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.stats import Drop, Reason

STAGE = "read"


class SourceReason(Reason):
    """Drop reasons of reading caption sources."""

    MALFORMED_ROW = "malformed_row", "a row or line that cannot be parsed (wrong field count, not JSON, not an object)"
    MISSING_URL = "missing_url", "a row without an image URL"
    MISSING_CAPTION = "missing_caption", "a row without an English caption"
    EXCLUDED_SPLIT = "excluded_split", "a Karpathy image in a split the source does not keep"


Parsed = CaptionSample | Drop


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
    """A caption record, or a drop when the URL or the English caption is missing."""
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
        return value.decode("utf-8", errors="replace")
    return str(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def table_row_to_record(row: Mapping[str, Any], src: TableSource) -> Parsed:
    """One img2dataset-style row (a dict of columns) to a record."""
    url = resolve_url(_cell(row.get(src.url_column)), src.image_root)
    captions = {"en": _cell(row.get(src.caption_column))}
    for lang, column in src.language_columns.items():
        captions[lang] = _cell(row.get(column))
    meta = {column: _jsonable(row.get(column)) for column in src.extra_columns if column in row}
    if src.hash_column and row.get(src.hash_column):
        meta["sha256"] = _cell(row[src.hash_column]).strip().lower()
    identity = _cell(row.get(src.key_column)) if src.key_column else None
    return make_record(src.name, url, captions, identity=identity, meta=meta)


def parse_tsv_line(line: str, src: TableSource) -> Parsed:
    """A CC3M/CC12M style line: tab-separated values named by ``src.columns``."""
    values = line.rstrip("\r\n").split("\t")
    columns = src.columns or []
    if len(values) != len(columns):
        detail = f"{len(values)} fields, expected {len(columns)}"
        return Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
    return table_row_to_record(dict(zip(columns, values)), src)


def parse_jsonl_line(line: str, src: TableSource) -> Parsed:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        return Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail=f"not JSON: {error.msg}")
    if not isinstance(row, dict):
        return Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail="not a JSON object")
    return table_row_to_record(row, src)


def parse_csv_text(text: str, src: TableSource) -> Iterator[Parsed]:
    """A whole CSV file (quoted fields may hold newlines, so it is parsed per file)."""
    reader = csv.reader(io.StringIO(text))
    columns = src.columns
    for values in reader:
        if columns is None:
            columns = values
            continue
        if not values:
            continue
        if len(values) != len(columns):
            raw = ",".join(values)
            detail = f"{len(values)} fields, expected {len(columns)}"
            yield Drop(stable_key(src.name, "malformed", raw), STAGE, SourceReason.MALFORMED_ROW, detail=detail)
            continue
        yield table_row_to_record(dict(zip(columns, values)), src)


def coco_records(data: Mapping[str, Any], src: CocoSource) -> Iterator[Parsed]:
    """COCO captions JSON: one record per image; captions in annotation-id order."""
    captions: dict[Any, list[tuple[Any, str]]] = defaultdict(list)
    for annotation in data.get("annotations", []):
        captions[annotation["image_id"]].append((annotation.get("id", 0), annotation.get("caption", "")))
    for image in data.get("images", []):
        if src.image_root is not None:
            url = resolve_url(image.get("file_name", ""), src.image_root)
        else:
            url = image.get("coco_url") or image.get("flickr_url") or ""
        texts = [text for _, text in sorted(captions.get(image["id"], []), key=lambda item: item[0])]
        meta = {"image_id": image["id"], "file_name": image.get("file_name")}
        yield make_record(
            src.name, url, {"en": texts[0] if texts else ""}, meta=meta, extra_captions={"en": texts[1:]}
        )


def karpathy_records(data: Mapping[str, Any], src: KarpathySource) -> Iterator[Parsed]:
    """Karpathy split JSON: ``images[*].sentences[*].raw``, image at ``filepath/filename``."""
    for image in data.get("images", []):
        location = posixpath.join(image.get("filepath", ""), image["filename"])
        url = resolve_url(location, src.image_root)
        split = image.get("split", "")
        if src.splits is not None and split not in src.splits:
            key = stable_key(src.name, url)
            yield Drop(key, STAGE, SourceReason.EXCLUDED_SPLIT, detail=split, url=url)
            continue
        texts = [sentence.get("raw", "").strip() for sentence in image.get("sentences", [])]
        meta = {"split": split, "image_id": image.get("cocoid", image.get("imgid"))}
        yield make_record(
            src.name, url, {"en": texts[0] if texts else ""}, meta=meta, extra_captions={"en": texts[1:]}
        )


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
            raise ValueError(
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


def read_aligned(src: AlignedSource) -> Iterator[Parsed]:
    captions = {lang: read_text(path) for lang, path in sorted(src.captions.items())}
    yield from aligned_records(read_text(src.path), captions, src)


def flickr_token_records(text: str, src: FlickrTokenSource) -> Iterator[Parsed]:
    """``1000092795.jpg#0\\tTwo young guys ...``: grouped per image, ordered by the number."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in _lines(text):
        if not line.strip():
            continue
        name, _, caption = line.partition("\t")
        image, _, number = name.partition("#")
        if not caption or not number.isdigit():
            yield Drop(stable_key(src.name, "malformed", line), STAGE, SourceReason.MALFORMED_ROW, detail="expected image#n<TAB>caption")
            continue
        grouped[image].append((int(number), caption))
    for image, items in grouped.items():
        texts = [caption for _, caption in sorted(items)]
        url = resolve_url(image, src.image_root)
        yield make_record(src.name, url, {"en": texts[0]}, meta={"image": image}, extra_captions={"en": texts[1:]})


def parse_file(path: str, text: str, src: Any) -> Iterator[Parsed]:
    """Whole-file formats: CSV, COCO, Karpathy, Flickr token."""
    if isinstance(src, TableSource) and src.format == "csv":
        yield from parse_csv_text(text, src)
        return
    if isinstance(src, FlickrTokenSource):
        yield from flickr_token_records(text, src)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"source {src.name}: {path} is not valid JSON ({error})") from None
    if isinstance(src, CocoSource):
        yield from coco_records(data, src)
    elif isinstance(src, KarpathySource):
        yield from karpathy_records(data, src)
    else:
        raise ValueError(f"source {src.name}: format {src.format} is not a whole-file format")
