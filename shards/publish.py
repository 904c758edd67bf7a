"""Publishing a finished shard folder to any fsspec destination.

Each shard is checked against the source index before upload and read back after
upload (size and sha256); shards already at the destination with the right checksum
are skipped, so an interrupted publish resumes. ``index.json`` goes up last, so the
destination is never a finished-looking folder with missing shards.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from typing import Callable

from babelshard.fs import filesystem, join
from babelshard.shards.index import INDEX_NAME, ShardIndexError, read_index
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
    with fs.open(path, "wb") as handle:
        handle.write(data)
    fs.invalidate_cache()


def publish_one(source: str, destination: str, report: PublishReport, say: Callable[[str], None]) -> None:
    index = read_index(source)
    src_fs, src_path = filesystem(source)
    dst_fs, dst_path = filesystem(destination)
    dst_path = dst_path.rstrip("/")
    dst_fs.makedirs(dst_path, exist_ok=True)
    for number, shard in enumerate(index.shards, 1):
        target = f"{dst_path}/{shard.name}"
        if _already_published(dst_fs, target, shard.bytes, shard.sha256):
            report.skipped.append(join(destination, shard.name))
            continue
        data = open_shard_bytes(source, shard, verify=True)  # refuses a tampered source shard
        _put(dst_fs, target, data)
        if not _already_published(dst_fs, target, shard.bytes, shard.sha256):
            raise ShardIntegrityError(f"{join(destination, shard.name)}: read-back after upload does not match the index")
        report.uploaded.append(join(destination, shard.name))
        say(f"[{number}/{len(index.shards)}] {shard.name} {shard.bytes:,} bytes")
    listed = {shard.name for shard in index.shards}
    for path in sorted(src_fs.ls(src_path, detail=False)):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name in listed or name == INDEX_NAME or name.startswith(".") or src_fs.isdir(path):
            continue
        with src_fs.open(path, "rb") as handle:
            _put(dst_fs, f"{dst_path}/{name}", handle.read())
        report.extra_files += 1
    with src_fs.open(f"{src_path.rstrip('/')}/{INDEX_NAME}", "rb") as handle:
        _put(dst_fs, f"{dst_path}/{INDEX_NAME}", handle.read())
    report.folders.append(destination)


def publish_folder(source: str, destination: str, progress: bool = False) -> PublishReport:
    """Publish ``source`` (a shard folder, or a tree of them) to ``destination``."""
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
