"""img2dataset's output folders as caption records, images included, nothing downloaded.

img2dataset writes, per shard ``NNNNN``, a metadata table ``NNNNN.parquet`` with one
row per input URL (``status``: ``success``, ``failed_to_download``,
``failed_to_resize``; ``error_message``), ``NNNNN_stats.json`` when the shard is done,
and the images of the successful rows in one of three output formats: a webdataset tar
``NNNNN.tar``, a folder ``NNNNN/`` of ``<key>.<ext>`` files, or an image column of the
parquet table itself. Every row becomes a :class:`CaptionSample` or a :class:`Drop`
whose reason is img2dataset's status (its error message is the detail).
"""
from __future__ import annotations

import json
import os
import re
import tarfile
from typing import Any, Iterator

from babelshard.errors import UserError
from babelshard.fs import filesystem
from babelshard.shards.index import ShardIndex, read_index
from babelshard.shards.writer import ShardWriter
from babelshard.records import ENGLISH, Caption, CaptionSample, stable_key
from babelshard.stats import Drop, reason_enum

STAGE = "import_img2dataset"
IMAGE_FORMATS = ("jpg", "jpeg", "png", "webp")
SHARD_TABLE = re.compile(r"(\d+)\.parquet")


Img2datasetReason = reason_enum("Img2datasetReason", __name__)


class Img2datasetFolderError(UserError):
    """A folder that is not a finished img2dataset output."""


def shard_ids(folder: str) -> list[str]:
    """The shard numbers of an img2dataset output folder, from its metadata tables."""
    fs, path = filesystem(folder)
    if not fs.isdir(path):
        raise Img2datasetFolderError(f"{folder}: no such img2dataset output folder")
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    found = sorted(m.group(1) for m in map(SHARD_TABLE.fullmatch, names) if m)
    if not found:
        raise Img2datasetFolderError(f"{folder}: no img2dataset shard table (NNNNN.parquet) found")
    unfinished = [i for i in found if f"{i}_stats.json" not in names]
    if unfinished:
        raise Img2datasetFolderError(
            f"{folder}: shard {unfinished[0]} has no {unfinished[0]}_stats.json; the img2dataset run did not finish")
    return found


def _read_table(path: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as error:  # pyarrow raises several types for a file that is not parquet
        raise Img2datasetFolderError(f"{path}: not an img2dataset parquet table ({str(error).splitlines()[0]})") from None


def _images_from_tar(path: str) -> dict[str, tuple[bytes, str]]:
    images = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                stem, _, ext = member.name.rpartition(".")
                if member.isfile() and ext in IMAGE_FORMATS:
                    images[os.path.basename(stem)] = (tar.extractfile(member).read(), ext)
    except tarfile.TarError as error:
        raise Img2datasetFolderError(f"{path}: not a readable tar ({error})") from None
    return images


def _images_from_files(folder: str) -> dict[str, tuple[bytes, str]]:
    images = {}
    for name in sorted(os.listdir(folder)):
        stem, _, ext = name.rpartition(".")
        if ext in IMAGE_FORMATS:
            with open(os.path.join(folder, name), "rb") as handle:
                images[stem] = (handle.read(), ext)
    return images


def _images_from_rows(rows: list[dict[str, Any]]) -> dict[str, tuple[bytes, str]]:
    images = {}
    for row in rows:
        for ext in IMAGE_FORMATS:
            if row.get(ext):
                images[str(row.get("key"))] = (row[ext], ext)
    return images


def shard_images(folder: str, shard: str, rows: list[dict[str, Any]]) -> dict[str, tuple[bytes, str]]:
    """The shard's images by img2dataset key, from whichever output format it used."""
    tar, files = os.path.join(folder, f"{shard}.tar"), os.path.join(folder, shard)
    if os.path.isfile(tar):
        return _images_from_tar(tar)
    if os.path.isdir(files):
        return _images_from_files(files)
    return _images_from_rows(rows)


def row_to_record(row: dict[str, Any], images: dict[str, tuple[bytes, str]], source: str) -> CaptionSample | Drop:
    url = str(row.get("url") or "")
    key = stable_key(source, url or str(row.get("key")))
    status = row.get("status")
    if status != "success":
        reason = Img2datasetReason(status) if status in ("failed_to_download", "failed_to_resize") else Img2datasetReason.OTHER_STATUS
        detail = str(row.get("error_message") or status or "")
        return Drop(key, STAGE, reason, detail.splitlines()[0] if detail else "", url)
    caption = row.get("caption") if row.get("caption") is not None else row.get("txt")
    if not caption or not str(caption).strip():
        return Drop(key, STAGE, Img2datasetReason.MISSING_CAPTION, f"img2dataset key {row.get('key')}", url)
    found = images.get(str(row.get("key")))
    if found is None:
        return Drop(key, STAGE, Img2datasetReason.MISSING_IMAGE, f"img2dataset key {row.get('key')}", url)
    meta = {name: row[name] for name in ("width", "height", "original_width", "original_height") if row.get(name) is not None}
    image, ext = found
    return CaptionSample(key=key, source=source, url=url, captions={ENGLISH: Caption(str(caption).strip())},
                         image=image, image_format="jpg" if ext == "jpeg" else ext, meta={"img2dataset": meta})


def read_img2dataset(folder: str, source: str = "img2dataset") -> Iterator[CaptionSample | Drop]:
    """Every row of every shard of a local img2dataset output folder, in shard and row order."""
    seen: set[str] = set()
    for shard in shard_ids(folder):
        rows = _read_table(os.path.join(folder, f"{shard}.parquet"))
        images = shard_images(folder, shard, rows)
        for row in rows:
            record = row_to_record(row, images, source)
            if record.key in seen:
                record = Drop(record.key, STAGE, Img2datasetReason.DUPLICATE_URL, "", record.url)
            seen.add(record.key)
            yield record


def shard_stats_count(folder: str, shard: str) -> int:
    """How many rows img2dataset says the shard had (its ``count``)."""
    with open(os.path.join(folder, f"{shard}_stats.json"), encoding="utf-8") as handle:
        return int(json.load(handle).get("count", 0))


def import_img2dataset(folder: str, output: str, max_samples: int = 1000, source: str = "img2dataset") -> ShardIndex:
    """Write a caption stream (shards, index, stats with img2dataset's statuses as drop
    reasons) from an img2dataset output folder."""
    expected = sum(shard_stats_count(folder, shard) for shard in shard_ids(folder))
    writer = ShardWriter(output, stream="caption", max_samples=max_samples)
    rows = 0
    with writer:
        for record in read_img2dataset(folder, source):
            rows += 1
            if isinstance(record, Drop):
                writer.write_drop(record)
            else:
                writer.write_record(record)
        if rows != expected:
            raise Img2datasetFolderError(
                f"{folder}: the shard tables hold {rows} rows but the _stats.json files count {expected}")
    return read_index(output)
