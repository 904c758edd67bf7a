"""COCO captions and Karpathy split JSON: whole files to caption records.

A file whose top level is not what the format says is a :class:`SourceFileError`
naming the file; an image or annotation that lacks a field, or has one of the wrong
type, is a ``malformed_row`` drop naming the field, and the rest of the file goes on.
"""
from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from typing import Any, Iterator, Mapping

from babelshard.pipelines.captions.config import CocoSource, KarpathySource
from babelshard.pipelines.captions.sources import (
    STAGE,
    Parsed,
    SourceFileError,
    SourceReason,
    make_record,
    resolve_url,
    snippet,
)
from babelshard.records import stable_key
from babelshard.stats import Drop


class MalformedItem(Exception):
    """One image or annotation with a missing or mistyped field (becomes a drop)."""


def parse_json_file(path: str, text: str, src: Any) -> Iterator[Parsed]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceFileError(f"source {src.name}: {path} is not valid JSON ({error})") from None
    if isinstance(src, CocoSource):
        yield from coco_records(data, src, path)
    elif isinstance(src, KarpathySource):
        yield from karpathy_records(data, src, path)
    else:
        raise SourceFileError(f"source {src.name}: format {src.format} is not a whole-file format")


def _top_level_list(data: Any, field: str, src: Any, path: str, expected: str) -> list:
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else type(data).__name__
        raise SourceFileError(f"source {src.name}: {path}: the top level is {kind}, expected {expected}")
    items = data.get(field, [])
    if not isinstance(items, list):
        raise SourceFileError(f"source {src.name}: {path}: `{field}` is {type(items).__name__}, expected a list")
    return items


def _field(item: Any, name: str, types: tuple[type, ...], where: str, required: bool = True) -> Any:
    if not isinstance(item, dict):
        raise MalformedItem(f"{where} is {type(item).__name__}, expected an object")
    value = item.get(name)
    if value is None and not required:
        return None
    if value is None:
        raise MalformedItem(f"{where} has no {name}")
    if isinstance(value, bool) or not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in types)
        raise MalformedItem(f"{where}.{name} is {type(value).__name__}, expected {expected}")
    return value


def _malformed(src: Any, path: str, item: Any, error: MalformedItem) -> Drop:
    raw = json.dumps(item, ensure_ascii=False, sort_keys=True, default=str)
    key = stable_key(src.name, "malformed", raw)
    return Drop(key, STAGE, SourceReason.MALFORMED_ROW, detail=f"{path}: {error}: {snippet(raw)}")


def coco_captions(annotations: list, src: CocoSource, path: str) -> tuple[dict[Any, list], list[Drop]]:
    """Captions per image id, and a drop per annotation that names no image or caption."""
    captions: dict[Any, list[tuple[Any, str]]] = defaultdict(list)
    drops = []
    for number, annotation in enumerate(annotations):
        where = f"annotations[{number}]"
        try:
            image_id = _field(annotation, "image_id", (int, str), where)
            caption = _field(annotation, "caption", (str,), where)
            order = _field(annotation, "id", (int, str), where, required=False) or 0
        except MalformedItem as error:
            drops.append(_malformed(src, path, annotation, error))
            continue
        captions[image_id].append((order, caption))
    return captions, drops


def _annotation_order(item: tuple[Any, str]) -> tuple[bool, Any]:
    return isinstance(item[0], str), item[0]  # numeric ids in order, then any string ids


def coco_records(data: Mapping[str, Any], src: CocoSource, path: str = "") -> Iterator[Parsed]:
    """COCO captions JSON: one record per image; captions in annotation-id order."""
    expected = "an object with `images` and `annotations`"
    annotations = _top_level_list(data, "annotations", src, path, expected)
    images = _top_level_list(data, "images", src, path, expected)
    captions, drops = coco_captions(annotations, src, path)
    yield from drops
    seen = set()
    for number, image in enumerate(images):
        where = f"images[{number}]"
        try:
            image_id = _field(image, "id", (int, str), where)
            file_name = _field(image, "file_name", (str,), where, required=src.image_root is not None) or ""
            remote = _field(image, "coco_url", (str,), where, required=False) or _field(
                image, "flickr_url", (str,), where, required=False
            )
        except MalformedItem as error:
            yield _malformed(src, path, image, error)
            continue
        seen.add(image_id)
        url = resolve_url(file_name, src.image_root) if src.image_root is not None else remote or ""
        texts = [text for _, text in sorted(captions.get(image_id, []), key=_annotation_order)]
        meta = {"image_id": image_id, "file_name": file_name or None}
        yield make_record(src.name, url, {"en": texts[0] if texts else ""}, meta=meta, extra_captions={"en": texts[1:]})
    for image_id in sorted(set(captions) - seen, key=str):
        error = MalformedItem(f"annotations name image_id {image_id!r}, which is not in images")
        yield _malformed(src, path, {"image_id": image_id, "captions": [t for _, t in captions[image_id]]}, error)


def karpathy_records(data: Mapping[str, Any], src: KarpathySource, path: str = "") -> Iterator[Parsed]:
    """Karpathy split JSON: ``images[*].sentences[*].raw``, image at ``filepath/filename``."""
    for number, image in enumerate(_top_level_list(data, "images", src, path, "an object with `images`")):
        where = f"images[{number}]"
        try:
            filename = _field(image, "filename", (str,), where)
            folder = _field(image, "filepath", (str,), where, required=False) or ""
            split = _field(image, "split", (str,), where, required=False) or ""
            sentences = _field(image, "sentences", (list,), where, required=False) or []
            texts = [_field(s, "raw", (str,), f"{where}.sentences[{i}]").strip() for i, s in enumerate(sentences)]
        except MalformedItem as error:
            yield _malformed(src, path, image, error)
            continue
        url = resolve_url(posixpath.join(folder, filename), src.image_root)
        if src.splits is not None and split not in src.splits:
            yield Drop(stable_key(src.name, url), STAGE, SourceReason.EXCLUDED_SPLIT, detail=split, url=url)
            continue
        meta = {"split": split, "image_id": image.get("cocoid", image.get("imgid"))}
        yield make_record(src.name, url, {"en": texts[0] if texts else ""}, meta=meta, extra_captions={"en": texts[1:]})
