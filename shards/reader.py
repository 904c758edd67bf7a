"""Reading shard folders: the index first, then the tars it lists.

``verify=True`` checks each shard's size and sha256 against the index before use and
refuses a mismatch with a message naming the file; :func:`read_shard` always checks the
size.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterator

from babelshard.errors import UserError
from babelshard.fs import filesystem, join
from babelshard.records import RECORD_TYPES
from babelshard.shards.index import ShardIndex, ShardInfo, read_index
from babelshard.shards.tarscan import scan_samples


class ShardIntegrityError(UserError):
    """A shard whose bytes do not match its index entry."""


def open_shard_bytes(folder: str, shard: ShardInfo, verify: bool) -> bytes:
    fs, path = filesystem(join(folder, shard.name))
    try:
        with fs.open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ShardIntegrityError(f"{join(folder, shard.name)}: listed in index.json but missing") from None
    if verify:
        if len(data) != shard.bytes:
            raise ShardIntegrityError(f"{join(folder, shard.name)}: {len(data)} bytes, index says {shard.bytes}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != shard.sha256:
            raise ShardIntegrityError(f"{join(folder, shard.name)}: sha256 {digest} does not match index {shard.sha256}")
    return data


def read_shard(folder: str, shard: ShardInfo, verify: bool = False) -> bytes:
    """The shard's bytes, refused when their count is not the index's: always, since it
    costs nothing once read, and a shard cut on a member boundary otherwise reads as a
    shorter valid tar. ``verify`` adds the sha256."""
    data = open_shard_bytes(folder, shard, verify)
    if len(data) != shard.bytes:
        raise ShardIntegrityError(f"{join(folder, shard.name)}: {len(data)} bytes, index says {shard.bytes}")
    return data


def read_shard_into(folder: str, shard: ShardInfo, buffer: bytearray, verify: bool = False) -> bytearray:
    """:func:`read_shard` into ``buffer`` resized to the index's byte count (a new buffer
    when it is empty), returned: a loader that reuses the buffers of the shards it is done
    with spares the kernel mapping and zeroing fresh memory for every shard, which costs
    several times the copy itself."""
    where = join(folder, shard.name)
    fs, path = filesystem(where)
    if not buffer:
        buffer = bytearray(shard.bytes)
    elif len(buffer) > shard.bytes:
        del buffer[shard.bytes :]
    else:
        buffer.extend(bytes(shard.bytes - len(buffer)))
    try:
        with fs.open(path, "rb") as handle:
            filled = _fill(handle, memoryview(buffer))
            longer = bool(handle.read(1))
    except FileNotFoundError:
        raise ShardIntegrityError(f"{where}: listed in index.json but missing") from None
    if filled != shard.bytes or longer:
        raise ShardIntegrityError(f"{where}: {fs.size(path)} bytes, index says {shard.bytes}")
    if verify:
        digest = hashlib.sha256(buffer).hexdigest()
        if digest != shard.sha256:
            raise ShardIntegrityError(f"{where}: sha256 {digest} does not match index {shard.sha256}")
    return buffer


def _fill(handle: Any, view: memoryview) -> int:
    """Bytes read into ``view`` until it is full or the file ends."""
    filled = 0
    with view:
        while filled < len(view):
            count = handle.readinto(view[filled:])
            if not count:
                break
            filled += count
    return filled


def iter_tar_samples(data: bytes, where: str = "") -> Iterator[dict[str, Any]]:
    """Group consecutive tar members by key into WebDataset sample dicts."""
    return iter(scan_samples(data, where))


def iter_samples(folder: str, verify: bool = False, index: ShardIndex | None = None) -> Iterator[dict[str, Any]]:
    index = index or read_index(folder)
    for shard in index.shards:
        yield from iter_tar_samples(open_shard_bytes(folder, shard, verify), where=join(folder, shard.name))


def iter_records(folder: str, verify: bool = False) -> Iterator[Any]:
    """Typed records of the folder's stream (CaptionSample, TextSample or ParallelPair)."""
    index = read_index(folder)
    record_type = RECORD_TYPES[index.stream]
    for sample in iter_samples(folder, verify=verify, index=index):
        yield record_type.from_sample(sample)


def verify_folder(folder: str) -> ShardIndex:
    index = read_index(folder)
    for shard in index.shards:
        open_shard_bytes(folder, shard, verify=True)
    return index


def check_sizes(folder: str, index: ShardIndex | None = None) -> ShardIndex:
    """Every listed shard exists with the size the index gives (no reading: cheap on
    any store); a missing or cut shard is a :class:`ShardIntegrityError` naming it."""
    index = index or read_index(folder)
    fs, path = filesystem(folder)
    sizes = {entry["name"].rstrip("/").rsplit("/", 1)[-1]: entry.get("size") for entry in fs.ls(path, detail=True)}
    for shard in index.shards:
        if shard.name not in sizes:
            raise ShardIntegrityError(f"{join(folder, shard.name)}: listed in index.json but missing")
        if sizes[shard.name] != shard.bytes:
            raise ShardIntegrityError(f"{join(folder, shard.name)}: {sizes[shard.name]} bytes, index says {shard.bytes}")
    return index
