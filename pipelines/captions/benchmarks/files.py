"""What every benchmark reader shares: the evaluation item, the one-line error, and
reading a release's own files (plain or gzipped text, JSON, line-aligned lists).

Readers take the folder a user downloaded or cloned (``root``) and paths inside it as
the release names them; any file that is missing or not in the expected layout is a
:class:`BenchmarkError` naming that file.
"""
from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from babelshard.errors import UserError
from babelshard.fs import join, read_bytes

COCO_IMAGE_NAME = re.compile(r"^COCO_(train2014|val2014|test2014)_\d{12}(\.jpg)?$")


class BenchmarkError(UserError):
    """A benchmark file that is missing or not in the release's layout."""


@dataclass(frozen=True)
class EvalItem:
    """One image of an evaluation set with all its captions.

    ``image`` is the image's path relative to an images folder (``val2014/COCO_val2014_…jpg``,
    ``1007129816.jpg``); ``captions`` maps a language to its captions in the release's
    order; ``fold`` is the image's 1K fold where the benchmark is evaluated in folds.
    """

    image_id: str
    image: str
    captions: Mapping[str, tuple[str, ...]]
    split: str
    fold: int | None = None


def read_file(root: str, relative: str, origin: str) -> bytes:
    """The bytes of ``root/relative``, gunzipped when the name ends in ``.gz``."""
    path = join(root, relative)
    try:
        data = read_bytes(path)
    except (FileNotFoundError, IsADirectoryError):
        raise BenchmarkError(f"{path}: no such file (it comes from {origin})") from None
    if relative.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            raise BenchmarkError(f"{path}: not a gzip file") from None
    return data


def read_text(root: str, relative: str, origin: str) -> str:
    data = read_file(root, relative, origin)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise BenchmarkError(f"{join(root, relative)}: not UTF-8 text (byte {error.start})") from None


def read_lines(root: str, relative: str, origin: str) -> list[str]:
    """Lines split on ``\\n`` only (a caption may hold other Unicode line breaks), without
    ``\\r`` (some releases use CRLF) and without the empty string after a final newline."""
    text = read_text(root, relative, origin)
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_json(root: str, relative: str, origin: str) -> Any:
    try:
        return json.loads(read_text(root, relative, origin))
    except json.JSONDecodeError as error:
        raise BenchmarkError(f"{join(root, relative)}: not valid JSON ({error.msg} at line {error.lineno})") from None


def read_aligned(root: str, relative: str, origin: str, count: int, listing: str) -> list[str]:
    """A caption file whose line i describes image i of ``listing`` (``count`` lines)."""
    lines = read_lines(root, relative, origin)
    if len(lines) != count:
        raise BenchmarkError(f"{join(root, relative)}: {len(lines)} lines, but {join(root, listing)} lists {count} images")
    return lines


def field(entry: Any, name: str, where: str) -> Any:
    """``entry[name]`` of a JSON record, or a one-line error saying where it is missing."""
    if not isinstance(entry, Mapping) or name not in entry:
        raise BenchmarkError(f"{where}: no {name!r} field")
    return entry[name]


def coco_image_path(name: str, where: str) -> str:
    """``COCO_val2014_000000391895`` (with or without ``.jpg``) as ``val2014/COCO_val2014_000000391895.jpg``,
    the path inside the COCO 2014 image folders."""
    match = COCO_IMAGE_NAME.match(name)
    if match is None:
        raise BenchmarkError(f"{where}: {name!r} is not a COCO 2014 image name (COCO_val2014_000000391895.jpg)")
    stem = name[: -len(".jpg")] if name.endswith(".jpg") else name
    return f"{match.group(1)}/{stem}.jpg"


def image_stem(name: str) -> str:
    """``1007129816.jpg`` -> ``1007129816``: an image's identity from its file name."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def items_from_columns(
    image_ids: Sequence[str], images: Sequence[str], columns: Mapping[str, Sequence[Sequence[str]]], split: str
) -> list[EvalItem]:
    """Items from line-aligned captions: ``columns[lang]`` holds one list per caption file."""
    return [
        EvalItem(image_id, image, {lang: tuple(lines[i] for lines in files) for lang, files in columns.items()}, split)
        for i, (image_id, image) in enumerate(zip(image_ids, images))
    ]
