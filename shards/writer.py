"""Writing shards: one tar at a time (:class:`ShardFile`), a rolling writer
(:class:`ShardWriter`) and per-shard ``stats.json``.

A shard is written under a hidden temporary name and renamed when complete (on object
stores: uploaded when complete, then checked by listing), so a reader never sees a
partial shard. ``shard-NNNNNN.stats.json`` follows the tar and marks it complete.
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Mapping

from babelshard.fs import filesystem, is_local, join, read_text, write_bytes_atomic
from babelshard.stats import Drop, StageStats
from babelshard.shards.card import FirstMembers
from babelshard.shards.index import ShardIndex, ShardInfo, build_index, write_index
from babelshard.shards.tario import HashingWriter, TarStream, archive_size, encoded_size, sample_members

DEFAULT_MAX_SAMPLES = 10_000
DEFAULT_MAX_BYTES = 1 << 30


def shard_name(number: int) -> str:
    return f"shard-{number:06d}.tar"


def stats_name(name: str) -> str:
    return name[: -len(".tar")] + ".stats.json"


class ShardFile:
    """One tar being written; invisible under its final name until :meth:`commit`."""

    def __init__(self, folder: str, name: str):
        self.folder, self.name = folder, name
        self.fs, self.folder_path = filesystem(folder)
        self.local = is_local(self.fs)
        if self.local:
            os.makedirs(self.folder_path, exist_ok=True)
            # One name per attempt: a retried or speculative attempt of the same shard on a
            # shared disk never writes into another attempt's file.
            self.temp_path = os.path.join(self.folder_path, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.partial")
        else:
            handle, self.temp_path = tempfile.mkstemp(suffix=".tar", prefix="babelshard-")
            os.close(handle)
        self.raw = open(self.temp_path, "wb")
        self.hasher = HashingWriter(self.raw)
        self.archive = TarStream(self.hasher)
        self.content_bytes = 0
        self.samples = 0
        self.languages: Counter = Counter()

    def add(self, members: list[tuple[str, bytes]], languages: Mapping[str, int] | None = None, size: int | None = None) -> None:
        self.archive.add(members)
        self.content_bytes += encoded_size(members) if size is None else size
        self.samples += 1
        self.languages.update(languages or {})

    def add_encoded(self, data: bytes, languages: Mapping[str, int] | None = None) -> None:
        """One sample already in tar form (its members' headers, data and padding)."""
        self.archive.add_encoded(data)
        self.content_bytes += len(data)
        self.samples += 1
        self.languages.update(languages or {})

    def size_with(self, member_bytes: int) -> int:
        """The finished tar's size if members taking ``member_bytes`` were added now."""
        return archive_size(self.content_bytes + member_bytes)

    def close_archive(self) -> None:
        """The end of the archive: every byte is handed to the file; :meth:`seal` finishes."""
        self.archive.close()

    def seal(self) -> ShardInfo:
        """fsync the tar (its hash finishes meanwhile) and put it under its final name;
        may run on another thread than :meth:`add`, once :meth:`close_archive` has."""
        os.fsync(self.raw.fileno())
        digest = self.hasher.hexdigest()
        self.raw.close()
        size = self.hasher.position
        if self.local:
            final = os.path.join(self.folder_path, self.name)
            os.replace(self.temp_path, final)
        else:
            final = f"{self.folder_path.rstrip('/')}/{self.name}"
            self.fs.put_file(self.temp_path, final)
            os.remove(self.temp_path)
            self.fs.invalidate_cache()
            listed = self.fs.info(final)["size"]
            if listed != size:
                raise OSError(f"{final}: uploaded {size} bytes but the store lists {listed}")
        return ShardInfo(self.name, self.samples, size, digest, dict(self.languages))

    def commit(self) -> ShardInfo:
        self.close_archive()
        return self.seal()

    def abort(self) -> None:
        try:
            self.hasher.hasher.shutdown(wait=True)
            self.raw.close()
        finally:
            if os.path.exists(self.temp_path):
                os.remove(self.temp_path)


def write_shard_stats(folder: str, info: ShardInfo, stats: StageStats, **extra: Any) -> None:
    payload = {**info.as_json(), "stats": stats.as_json(), **extra}
    text = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(join(folder, stats_name(info.name)), text.encode("utf-8"))


def read_shard_stats(folder: str, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(read_text(join(folder, stats_name(name))))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_folder_stats(folder: str, stats: StageStats) -> None:
    text = json.dumps(stats.as_json(), indent=1, sort_keys=True) + "\n"
    write_bytes_atomic(join(folder, "stats.json"), text.encode("utf-8"))


class ShardWriter:
    """Writes samples into consecutive shards, rolling over on a sample count or a
    byte size (the tar's real size), like webdataset's ``ShardWriter``.

    A full shard is sealed (hash finished, fsync, rename, ``stats.json``) on a helper
    thread while the next one is written; at most one shard seals at a time, so the
    writer never runs more than a shard ahead. ``close()`` writes ``index.json`` last.
    On an exception inside a ``with`` block the shard being sealed is completed, the
    partial one is removed and no index is written.
    """

    def __init__(
        self,
        folder: str,
        *,
        stream: str,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        config_hash: str = "",
        on_shard: Callable[[ShardInfo], None] | None = None,
    ):
        if max_samples < 1 or max_bytes < 1:
            raise ValueError("max_samples and max_bytes must be positive")
        self.folder, self.stream = str(folder), stream
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.config_hash = config_hash
        self.on_shard = on_shard
        self.shards: list[ShardInfo] = []
        self.current: ShardFile | None = None
        self.current_stats = StageStats()
        self.total_stats = StageStats()
        self.started = 0  # shards begun, including the one being sealed and the current one
        self.first_members = FirstMembers()  # of the first shard, for the dataset card
        self.sealer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-seal")
        self.sealing: Future | None = None

    def write(self, sample: Mapping[str, Any], languages: Mapping[str, int] | None = None) -> None:
        members = sample_members(sample)
        size = encoded_size(members)
        if self.current is not None and (
            self.current.samples >= self.max_samples or self.current.size_with(size) > self.max_bytes
        ):
            self._finish_shard()
        if self.current is None:
            self.current = ShardFile(self.folder, shard_name(self.started))
            self.started += 1
        self.current.add(members, languages, size)
        if self.started == 1:
            self.first_members.add(members)
        self.current_stats.inputs += 1
        self.current_stats.outputs += 1

    def write_record(self, record: Any) -> None:
        self.write(record.to_sample(), record.language_counts())

    def write_drop(self, drop: Drop) -> None:
        self.current_stats.inputs += 1
        self.current_stats.drop(drop.stage, drop.reason)

    def _finish_shard(self) -> None:
        assert self.current is not None
        shard, stats = self.current, self.current_stats
        self.current, self.current_stats = None, StageStats()
        try:
            shard.close_archive()
            self._collect_sealed()
        except BaseException:
            shard.abort()
            raise
        self.sealing = self.sealer.submit(seal_shard, shard, stats, self.config_hash)

    def _collect_sealed(self) -> None:
        """Wait for the shard being sealed and record it."""
        if self.sealing is None:
            return
        future, self.sealing = self.sealing, None
        info, stats = future.result()
        self.total_stats.merge(stats)
        self.shards.append(info)
        if self.on_shard:
            self.on_shard(info)

    def close(self, extra: Mapping[str, Any] | None = None) -> ShardIndex:
        if self.current is not None:
            self._finish_shard()
        else:
            self.total_stats.merge(self.current_stats)
        self._collect_sealed()
        self.sealer.shutdown()
        index = build_index(self.stream, self.shards, self.config_hash, extra)
        write_folder_stats(self.folder, self.total_stats)
        write_index(self.folder, index, self.first_members.found)
        return index

    def abort(self) -> None:
        if self.sealing is not None:
            wait([self.sealing])  # that shard was full: let it complete (a failed seal cleans up after itself)
            self.sealing = None
        if self.current is not None:
            self.current.abort()
            self.current = None
        self.sealer.shutdown()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def seal_shard(shard: ShardFile, stats: StageStats, config_hash: str) -> tuple[ShardInfo, StageStats]:
    """Seal a shard whose archive is closed and write its ``stats.json``; a failed seal
    removes the partial tar."""
    try:
        info = shard.seal()
    except BaseException:
        shard.abort()
        raise
    write_shard_stats(shard.folder, info, stats, config_hash=config_hash)
    return info, stats


def write_records(folder: str, stream: str, records: Iterable[Any], **options: Any) -> ShardIndex:
    """Write typed records (anything with ``to_sample`` and ``language_counts``) to shards."""
    writer = ShardWriter(folder, stream=stream, **options)
    try:
        for record in records:
            writer.write_record(record)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
