"""Publishing a finished shard folder to any fsspec destination.

Each shard is checked against the source index before upload and read back after
upload (size and sha256); shards already at the destination with the right checksum
are skipped, so an interrupted publish resumes. The destination never looks finished
while it is not: an index already there (an earlier version) is removed before the
first file is replaced, every file is written under a hidden temporary name and moved
(local disks) or uploaded whole and read back (object stores), shard files of the
earlier version that the new index does not list are removed, and ``index.json``
goes up last.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from typing import Callable

from babelshard.fs import PARTIAL_MARK, filesystem, join, write_bytes_atomic
from babelshard.shards.index import INDEX_NAME, SHARD_NAME, ShardIndexError, read_index
from babelshard.shards.reader import ShardIntegrityError, open_shard_bytes


@dataclass
class PublishReport:
    folders: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    extra_files: int = 0


def find_shard_folders(root: str) -> list[str]:
    """``root`` itself if it has an index, else every folder below it that has one."""
    fs, path = filesystem(root)
    if fs.exists(f"{path.rstrip('/')}/{INDEX_NAME}"):
        return [root]
    found = sorted(p for p in fs.find(path) if p.endswith(f"/{INDEX_NAME}"))
    relative = [p[len(path.rstrip("/")) + 1 : -len(INDEX_NAME) - 1] for p in found]
    return [join(root, *rel.split("/")) for rel in relative]


def _remote_sha256(fs, path: str) -> str | None:
    try:
        with fs.open(path, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except FileNotFoundError:
        return None


def _already_published(fs, path: str, size: int, sha256: str) -> bool:
    try:
        if fs.info(path)["size"] != size:
            return False
    except FileNotFoundError:
        return False
    return _remote_sha256(fs, path) == sha256


def _put(fs, path: str, data: bytes) -> None:
    write_bytes_atomic(fs.unstrip_protocol(path), data)
    fs.invalidate_cache()


def _read(fs, path: str) -> bytes | None:
    try:
        with fs.open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _belongs_to_a_shard(name: str) -> bool:
    """Files the writer makes per shard: the tar, its stats and failures."""
    stem = name.split(".", 1)[0]
    return SHARD_NAME.fullmatch(stem + ".tar") is not None


def _leftovers(fs, path: str, keep: set[str]) -> list[str]:
    """Destination files an earlier publish left: hidden partial files, and per-shard
    files of shards that ``keep`` (the new version's files) does not name."""
    found = []
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:  # an object store has no empty folders
        return []
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if (name.startswith(".") and PARTIAL_MARK in name) or (_belongs_to_a_shard(name) and name not in keep):
            found.append(f"{path}/{name}")
    return found


def _extra_files(src_fs, src_path: str, listed: set[str]) -> dict[str, bytes]:
    """The folder's other files (stats, failures), by name."""
    extras = {}
    for path in sorted(src_fs.ls(src_path, detail=False)):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name in listed or name == INDEX_NAME or name.startswith(".") or src_fs.isdir(path):
            continue
        with src_fs.open(path, "rb") as handle:
            extras[name] = handle.read()
    return extras


def publish_one(source: str, destination: str, report: PublishReport, say: Callable[[str], None]) -> None:
    index = read_index(source)
    src_fs, src_path = filesystem(source)
    dst_fs, dst_path = filesystem(destination)
    dst_path = dst_path.rstrip("/")
    dst_fs.makedirs(dst_path, exist_ok=True)
    with src_fs.open(f"{src_path.rstrip('/')}/{INDEX_NAME}", "rb") as handle:
        index_bytes = handle.read()
    listed = {shard.name for shard in index.shards}
    extras = _extra_files(src_fs, src_path, listed)
    pending = [s for s in index.shards if not _already_published(dst_fs, f"{dst_path}/{s.name}", s.bytes, s.sha256)]
    stale_extras = {name for name, data in extras.items() if _read(dst_fs, f"{dst_path}/{name}") != data}
    leftovers = _leftovers(dst_fs, dst_path, listed | set(extras))
    report.skipped += [join(destination, s.name) for s in index.shards if s not in pending]
    if not pending and not stale_extras and not leftovers and _read(dst_fs, f"{dst_path}/{INDEX_NAME}") == index_bytes:
        report.folders.append(destination)
        return
    if dst_fs.exists(f"{dst_path}/{INDEX_NAME}"):
        dst_fs.rm(f"{dst_path}/{INDEX_NAME}")  # before the first file of an earlier version is replaced
    for number, shard in enumerate(pending, 1):
        target = f"{dst_path}/{shard.name}"
        data = open_shard_bytes(source, shard, verify=True)  # refuses a tampered source shard
        _put(dst_fs, target, data)
        if not _already_published(dst_fs, target, shard.bytes, shard.sha256):
            raise ShardIntegrityError(f"{join(destination, shard.name)}: read-back after upload does not match the index")
        report.uploaded.append(join(destination, shard.name))
        say(f"[{number}/{len(pending)}] {shard.name} {shard.bytes:,} bytes")
    for name in sorted(stale_extras):
        _put(dst_fs, f"{dst_path}/{name}", extras[name])
    report.extra_files += len(stale_extras)
    for path in leftovers:
        dst_fs.rm(path)
    _put(dst_fs, f"{dst_path}/{INDEX_NAME}", index_bytes)
    report.folders.append(destination)


def publish_folder(source: str, destination: str, progress: bool = False) -> PublishReport:
    """Publish ``source`` (a shard folder, or a tree of them) to ``destination``."""
    filesystem(destination)  # a destination no installed filesystem can reach fails before any work
    folders = find_shard_folders(source)
    if not folders:
        raise ShardIndexError(f"{source}: no {INDEX_NAME} found; refusing to publish an unfinished run")
    say = (lambda text: print(text, file=sys.stderr)) if progress else (lambda text: None)
    report = PublishReport()
    base = str(source).rstrip("/")
    for folder in folders:
        relative = folder[len(base) :].strip("/")
        target = join(destination, *relative.split("/")) if relative else destination
        say(f"publishing {folder} -> {target}")
        publish_one(folder, target, report, say)
    say(f"done: {len(report.uploaded)} shard(s) uploaded, {len(report.skipped)} already there and verified")
    return report
