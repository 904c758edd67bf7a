"""Publishing a finished shard folder to any fsspec destination.

Each shard is checked against the source index before upload. Uploads run in
parallel; each upload is verified from the store's own checksum (S3's ETag or
``ChecksumSHA256``, GCS's ``md5Hash``) against digests computed while reading the
source, so nothing is downloaded again; a store that keeps no usable checksum (a
local disk, an S3 multipart upload without ``ChecksumSHA256``) is read back. Shards already at the destination whose stored checksum matches
are skipped, so an interrupted publish resumes without reading them back. The
destination never looks finished while it is not: an index already there (an
earlier version) is removed before the first file is replaced, every file is written
under a hidden temporary name and moved (local disks) or uploaded whole (object
stores), shard files of the earlier version that the new index does not list are
removed, and ``index.json`` goes up last.
"""
from __future__ import annotations

import base64
import hashlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from babelshard.errors import UserError
from babelshard.fs import PARTIAL_MARK, filesystem, is_local, join, write_bytes_atomic
from babelshard.shards.index import INDEX_NAME, SHARD_NAME, ShardIndexError, ShardInfo, read_index
from babelshard.shards.reader import ShardIntegrityError, open_shard_bytes

DEFAULT_WORKERS = 8


class PublishSourceError(UserError):
    """The folder to publish does not exist."""


@dataclass
class PublishReport:
    folders: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    extra_files: int = 0
    bytes_uploaded: int = 0
    bytes_read_back: int = 0  # bytes downloaded to verify uploads (none where the store keeps checksums)
    verified_by: dict[str, int] = field(default_factory=dict)  # how many shards each method verified
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, bytes_uploaded: int = 0, bytes_read_back: int = 0, method: str | None = None) -> None:
        with self.lock:
            self.bytes_uploaded += bytes_uploaded
            self.bytes_read_back += bytes_read_back
            if method is not None:
                self.verified_by[method] = self.verified_by.get(method, 0) + 1


@dataclass(frozen=True)
class Digests:
    size: int
    sha256: str
    md5: str

    @classmethod
    def of(cls, data: bytes) -> "Digests":
        return cls(len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())


def find_shard_folders(root: str) -> list[str]:
    """``root`` itself if it has an index, else every folder below it that has one."""
    fs, path = filesystem(root)
    if fs.exists(f"{path.rstrip('/')}/{INDEX_NAME}"):
        return [root]
    if not fs.exists(path):
        raise PublishSourceError(f"{root}: no such folder to publish")
    found = sorted(p for p in fs.find(path) if p.endswith(f"/{INDEX_NAME}"))
    relative = [p[len(path.rstrip("/")) + 1 : -len(INDEX_NAME) - 1] for p in found]
    return [join(root, *rel.split("/")) for rel in relative]


def stored_checksum(info: dict) -> tuple[str, str] | None:
    """The checksum an object store keeps for a file, as (kind, value), from ``fs.info``:
    S3's ``ChecksumSHA256`` or single-part ETag (the MD5), GCS's ``md5Hash``."""
    if info.get("ChecksumSHA256"):
        return "sha256-base64", info["ChecksumSHA256"]
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    if etag and "-" not in etag and len(etag) == 32:  # a multipart ETag is no file digest
        return "md5", etag.lower()
    if info.get("md5Hash"):
        return "md5-base64", info["md5Hash"]
    return None


def _matches(kind: str, value: str, digests: Digests) -> bool:
    if kind == "sha256-base64":
        return value == base64.b64encode(bytes.fromhex(digests.sha256)).decode()
    if kind == "md5":
        return value == digests.md5
    return value == base64.b64encode(bytes.fromhex(digests.md5)).decode()


def _info(fs, path: str) -> dict | None:
    try:
        return fs.info(path)
    except FileNotFoundError:
        return None


def _read_back_sha256(fs, path: str, report: PublishReport) -> str | None:
    try:
        with fs.open(path, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                report.count(bytes_read_back=len(block))
        return digest.hexdigest()
    except FileNotFoundError:
        return None


def verify_at_destination(fs, path: str, digests: Digests, report: PublishReport) -> bool:
    """Whether the file at ``path`` has ``digests``: by the store's checksum where it keeps
    one, else by reading it back."""
    info = _info(fs, path)
    if info is None or info.get("size") != digests.size:
        return False
    checksum = stored_checksum(info)
    report.count(method=checksum[0] if checksum else "read-back")
    if checksum is not None:
        return _matches(checksum[0], checksum[1], digests)
    return _read_back_sha256(fs, path, report) == digests.sha256


def _put(fs, path: str, data: bytes) -> None:
    if is_local(fs):
        write_bytes_atomic(fs.unstrip_protocol(path), data)
    else:
        fs.pipe_file(path, data)  # one PUT, visible whole; through the open client, not a new one
    fs.invalidate_cache(path)


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


class Progress:
    """Shards and bytes done of a total, with the rate since the start, as log lines."""

    def __init__(self, total_shards: int, total_bytes: int, say: Callable[[str], None], clock=time.monotonic):
        self.total_shards, self.total_bytes, self.say, self.clock = total_shards, total_bytes, say, clock
        self.shards = self.bytes = 0
        self.started = clock()
        self.lock = threading.Lock()

    def line(self, name: str) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.bytes / elapsed
        left = (self.total_bytes - self.bytes) / rate if rate else 0.0
        return (f"[{self.shards}/{self.total_shards}] {name} {self.bytes:,}/{self.total_bytes:,} bytes "
                f"{rate / 1e6:.1f} MB/s, about {left:.0f} s left")

    def done(self, name: str, size: int) -> None:
        with self.lock:
            self.shards += 1
            self.bytes += size
            self.say(self.line(name))


def _shard_is_there(source: str, shard: ShardInfo, dst_fs, target: str, report: PublishReport) -> bool:
    """Whether ``shard`` is already at ``target``: checked by size first, then by the
    store's checksum against the source's digests (read from the source, not the store)."""
    info = _info(dst_fs, target)
    if info is None or info.get("size") != shard.bytes:
        return False
    try:
        digests = Digests.of(open_shard_bytes(source, shard, verify=False))
    except ShardIntegrityError:  # missing at the source: its upload says so
        return False
    if digests.sha256 != shard.sha256:
        return False  # a damaged source shard: its upload refuses it, after the old index is gone
    return verify_at_destination(dst_fs, target, digests, report)


def _upload_shard(source: str, destination: str, shard: ShardInfo, dst_fs, dst_path: str,
                  report: PublishReport, progress: Progress) -> None:
    target = f"{dst_path}/{shard.name}"
    data = open_shard_bytes(source, shard, verify=True)  # refuses a tampered source shard
    digests = Digests.of(data)
    _put(dst_fs, target, data)
    if not verify_at_destination(dst_fs, target, digests, report):
        raise ShardIntegrityError(f"{join(destination, shard.name)}: the stored file does not match the index after upload")
    report.uploaded.append(join(destination, shard.name))
    report.count(bytes_uploaded=shard.bytes)
    progress.done(shard.name, shard.bytes)


def _run_all(tasks: list[Callable[[], object]], workers: int) -> list:
    """Every task's result, in order; the first error is raised once all have stopped."""
    if workers <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(task) for task in tasks]
    return [future.result() for future in futures]


def publish_one(source: str, destination: str, report: PublishReport, say: Callable[[str], None],
                workers: int = DEFAULT_WORKERS) -> None:
    index = read_index(source)
    src_fs, src_path = filesystem(source)
    dst_fs, dst_path = filesystem(destination)
    dst_path = dst_path.rstrip("/")
    dst_fs.makedirs(dst_path, exist_ok=True)
    with src_fs.open(f"{src_path.rstrip('/')}/{INDEX_NAME}", "rb") as handle:
        index_bytes = handle.read()
    listed = {shard.name for shard in index.shards}
    extras = _extra_files(src_fs, src_path, listed)
    there = _run_all([lambda s=s: _shard_is_there(source, s, dst_fs, f"{dst_path}/{s.name}", report)
                      for s in index.shards], workers)
    pending = [s for s, present in zip(index.shards, there) if not present]
    stale_extras = {name for name, data in extras.items() if _read(dst_fs, f"{dst_path}/{name}") != data}
    leftovers = _leftovers(dst_fs, dst_path, listed | set(extras))
    report.skipped += [join(destination, s.name) for s, present in zip(index.shards, there) if present]
    if not pending and not stale_extras and not leftovers and _read(dst_fs, f"{dst_path}/{INDEX_NAME}") == index_bytes:
        report.folders.append(destination)
        return
    if dst_fs.exists(f"{dst_path}/{INDEX_NAME}"):
        dst_fs.rm(f"{dst_path}/{INDEX_NAME}")  # before the first file of an earlier version is replaced
    progress = Progress(len(pending), sum(s.bytes for s in pending), say)
    _run_all([lambda s=s: _upload_shard(source, destination, s, dst_fs, dst_path, report, progress)
              for s in pending], workers)
    for name in sorted(stale_extras):
        _put(dst_fs, f"{dst_path}/{name}", extras[name])
    report.extra_files += len(stale_extras)
    for path in leftovers:
        dst_fs.rm(path)
    _put(dst_fs, f"{dst_path}/{INDEX_NAME}", index_bytes)
    report.folders.append(destination)


def publish_folder(source: str, destination: str, progress: bool = False,
                   workers: int = DEFAULT_WORKERS) -> PublishReport:
    """Publish ``source`` (a shard folder, or a tree of them) to ``destination``,
    ``workers`` shards at a time."""
    filesystem(destination)  # a destination no installed filesystem can reach fails before any work
    folders = find_shard_folders(source)
    if not folders:
        raise ShardIndexError(f"{source}: no {INDEX_NAME} found; refusing to publish an unfinished run")
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else (lambda text: None)
    report = PublishReport()
    base = str(source).rstrip("/")
    for folder in folders:
        relative = folder[len(base) :].strip("/")
        target = join(destination, *relative.split("/")) if relative else destination
        say(f"publishing {folder} -> {target}")
        publish_one(folder, target, report, say, workers)
    methods = ", ".join(f"{n} by {m}" for m, n in sorted(report.verified_by.items())) or "none"
    say(f"done: {len(report.uploaded)} shard(s) uploaded ({report.bytes_uploaded:,} bytes), "
        f"{len(report.skipped)} already there and verified; checks: {methods}; "
        f"{report.bytes_read_back:,} bytes read back")
    return report
