"""One shard of a keyed shard folder, without Beam.

A record goes to shard ``shard_of(key, N)``. A shard is written from
:class:`EncodedSample` items (what the tar needs of a record) and
:class:`~babelshard.stats.Drop` items by :func:`write_shard`: samples sorted by key into
the tar (written under a hidden name of its own attempt, renamed when complete), drops
into ``shard-NNNNNN.failures.parquet``, then ``shard-NNNNNN.stats.json``, which marks the
shard complete; the three are committed under the folder's ``.commit.lock`` (on an object
store, read back until they are one attempt's). A shard that a run with the same plan and
config completed, with the same sample and drop counts, is left as it is. The Beam sink
(:mod:`babelshard.shards.beam`) and the caption job's download-and-write step both call
:func:`write_shard`.

Samples are held until the tar is written in :class:`~babelshard.shards.held.HeldSamples`:
in memory up to :attr:`ShardLimits.memory_bytes`, spilled to a file beyond, so a worker's
memory does not grow with the shard; :attr:`ShardLimits.max_bytes` caps the tar.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import math
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from babelshard.fs import filesystem, is_local, join
from babelshard.shards.held import DEFAULT_MEMORY_BYTES, HeldSample, HeldSamples
from babelshard.shards.index import ShardInfo
from babelshard.shards.tario import archive_size, sample_members
from babelshard.shards.tarscan import tar_keys
from babelshard.shards.writer import ShardFile, read_shard_stats, shard_name, write_shard_stats
from babelshard.stats import Drop, StageStats, reason_enum

ShardReason = reason_enum("ShardReason", __name__)
SHARD_STAGE = "shard"

FAILURE_COLUMNS = ("key", "stage", "reason", "detail", "url")
COMMIT_LOCK = ".commit.lock"
_PROCESS_COMMIT_LOCK = threading.Lock()


def shard_of(key: str, num_shards: int) -> int:
    """The shard a key belongs to; stable across runs, processes and runners."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % num_shards


def shard_count(samples: int, samples_per_shard: int) -> int:
    return max(1, math.ceil(samples / samples_per_shard))


@dataclass(frozen=True)
class EncodedSample:
    """What a shard needs of a record: its key, its tar members and its language counts."""

    key: str
    members: list[tuple[str, bytes]]
    languages: Mapping[str, int]


def encode_sample(record: Any) -> EncodedSample:
    """A record (anything with ``key``, ``to_sample`` and ``language_counts``) as tar members."""
    return EncodedSample(record.key, sample_members(record.to_sample()), record.language_counts())


def key_by_shard(item: Any, num_shards: int) -> tuple[int, Any]:
    """(shard number, item) for anything with a ``key``: a record, a sample or a drop."""
    return shard_of(item.key, num_shards), item


def split_items(items: Iterable[EncodedSample | Drop]) -> tuple[list[EncodedSample], list[Drop]]:
    samples: list[EncodedSample] = []
    drops: list[Drop] = []
    for item in items:
        (drops if isinstance(item, Drop) else samples).append(item)
    return samples, drops


def file_sha256(url: str) -> str:
    fs, path = filesystem(url)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def completed_shard(folder: str, number: int, num_shards: int, config_hash: str, verify: bool = True) -> dict | None:
    """The stats of shard ``number`` if it was completed by a run with the same plan."""
    name = shard_name(number)
    stats = read_shard_stats(folder, name)
    if not stats or stats.get("config_hash") != config_hash or stats.get("num_shards") != num_shards:
        return None
    if stats["samples"] == 0:
        return stats
    fs, path = filesystem(join(folder, name))
    if not fs.exists(path) or fs.info(path)["size"] != stats["bytes"]:
        return None
    if verify and file_sha256(join(folder, name)) != stats["sha256"]:
        return None
    return stats


def completed_shards(folder: str, num_shards: int, config_hash: str) -> set[int]:
    """Shard numbers a rerun can skip (used to avoid re-downloading their images)."""
    return {n for n in range(num_shards) if completed_shard(folder, n, num_shards, config_hash) is not None}


def failures_name(number: int) -> str:
    return shard_name(number)[: -len(".tar")] + ".failures.parquet"


def write_failures(folder: str, number: int, drops: list[Drop]) -> None:
    rows = [drop.as_row() for drop in sorted(drops, key=lambda d: (d.key, d.stage, d.reason))]
    table = pa.Table.from_pylist(rows, schema=pa.schema([(column, pa.string()) for column in FAILURE_COLUMNS]))
    fs, path = filesystem(join(folder, failures_name(number)))
    fs.makedirs(filesystem(folder)[1], exist_ok=True)
    with fs.open(path, "wb") as handle:
        pq.write_table(table, handle)


def remove_failures(folder: str, number: int) -> None:
    fs, path = filesystem(join(folder, failures_name(number)))
    if fs.exists(path):
        fs.rm(path)


SHARD_FILE = re.compile(r"shard-(\d{6})\.(tar|stats\.json|failures\.parquet)")


def remove_shards_outside(folder: str, numbers: set[int]) -> list[str]:
    """Remove the shard files (tar, stats, failures) whose number is not in ``numbers``:
    left in the folder by a run of another shard plan (a rerun with more samples, a
    retry that added pairs), which the new index does not list but a reader globbing
    ``*.tar`` would find. Returns the names removed."""
    fs, path = filesystem(folder)
    if not fs.exists(path):
        return []
    removed = []
    for entry in sorted(fs.ls(path, detail=False)):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        match = SHARD_FILE.fullmatch(name)
        if match is not None and int(match.group(1)) not in numbers:
            fs.rm(entry)
            removed.append(name)
    return removed


def read_failures(folder: str, number: int) -> list[dict[str, str]]:
    """The drop rows of shard ``number`` (none when it has no failures file)."""
    fs, path = filesystem(join(folder, failures_name(number)))
    if not fs.exists(path):
        return []
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle).to_pylist()


def written_from_the_same(done: dict | None, samples: list[EncodedSample] | list[HeldSample],
                          drops: list[Drop]) -> bool:
    """Whether a complete shard's stats count the same samples and drops: a rerun's
    shard (the parallel pairs after a retry) with other drops only is rewritten too."""
    if done is None or done["samples"] != len(samples):
        return False
    return done.get("stats", {}).get("inputs", len(samples) + len(drops)) == len(samples) + len(drops)


@dataclass(frozen=True)
class WrittenShard:
    stats: dict[str, Any]  # what the shard's stats.json holds
    skipped: bool  # complete from an earlier run and left as it was
    peak_held_bytes: int = 0  # most bytes of encoded samples held in memory at once
    spilled_samples: int = 0  # samples that waited in the spill file instead


@dataclass(frozen=True)
class ShardLimits:
    """How much of a shard is held in memory while it is written, and how big it may get."""

    memory_bytes: int = DEFAULT_MEMORY_BYTES  # encoded samples held in memory; the rest wait in a spill file
    max_bytes: int | None = None  # the tar's cap: samples past it, in key order, become drops


def hold_samples(folder: str, number: int, samples: Iterable[EncodedSample], memory_bytes: int) -> HeldSamples:
    """``samples`` held for shard ``number`` (the caller closes what it gets)."""
    held = HeldSamples(folder, shard_name(number), memory_bytes)
    try:
        for sample in samples:
            held.add(sample.key, sample.members, sample.languages)
    except BaseException:
        held.close()
        raise
    return held


def write_shard(
    folder: str,
    number: int,
    num_shards: int,
    samples: Iterable[EncodedSample] | HeldSamples,
    drops: list[Drop],
    config_hash: str,
    counters: Mapping[str, int] | None = None,
    limits: ShardLimits = ShardLimits(),
) -> WrittenShard:
    """Write shard ``number`` of ``num_shards`` from its samples (any order, or already
    held: :func:`hold_samples`, which the caller then closes) and drops; ``counters``
    (e.g. a histogram) go into its stats as they are.

    The tar is written under a name of its own, then committed with its failures and
    stats under the folder's commit lock, so two attempts of one shard never leave a
    tar that its stats do not describe; an attempt that finds the shard completed
    meanwhile with the same sample and drop counts keeps that one. An object store has
    no lock: there the attempt settles the shard (:func:`settle_on_store`).
    """
    if isinstance(samples, HeldSamples):
        return write_held_shard(folder, number, num_shards, samples, drops, config_hash, counters, limits.max_bytes)
    with hold_samples(folder, number, samples, limits.memory_bytes) as held:
        return write_held_shard(folder, number, num_shards, held, drops, config_hash, counters, limits.max_bytes)


def write_held_shard(
    folder: str, number: int, num_shards: int, held: HeldSamples, drops: list[Drop], config_hash: str,
    counters: Mapping[str, int] | None = None, max_bytes: int | None = None,
) -> WrittenShard:
    """:func:`write_shard` of held samples: sorted by key, those past ``max_bytes`` dropped."""
    ordered = held.in_key_order()
    kept = samples_within(ordered, max_bytes)
    drops = drops + [over_max_bytes(sample, max_bytes) for sample in ordered[kept:]]
    ordered = ordered[:kept]
    attempt = functools.partial(write_attempt, folder, number, num_shards, held, ordered, drops, config_hash, counters)
    if is_local(filesystem(folder)[0]):
        return attempt()
    return settle_on_store(folder, number, attempt, input_keys(ordered, drops))


def write_attempt(
    folder: str, number: int, num_shards: int, held: HeldSamples, ordered: list[HeldSample], drops: list[Drop],
    config_hash: str, counters: Mapping[str, int] | None = None, keep_complete: bool = True,
) -> WrittenShard:
    """One attempt's commit of the shard (see :func:`write_shard`) from ``held``'s samples in
    key order; with ``keep_complete`` off it writes even over a complete shard of the same counts."""
    held_stats = {"peak_held_bytes": held.peak_held_bytes, "spilled_samples": held.spilled_samples}
    done = completed_shard(folder, number, num_shards, config_hash)
    if keep_complete and written_from_the_same(done, ordered, drops):
        return WrittenShard(done, skipped=True, **held_stats)
    shard = open_tar(folder, shard_name(number), held, ordered) if ordered else None
    try:
        with commit_lock(folder):
            done = completed_shard(folder, number, num_shards, config_hash)
            if keep_complete and written_from_the_same(done, ordered, drops):
                return WrittenShard(done, skipped=True, **held_stats)
            info = shard.commit() if shard is not None else ShardInfo(shard_name(number), 0, 0, "", {})
            shard = None
            written = commit_shard(folder, number, num_shards, info, len(ordered), drops, config_hash, counters)
            return WrittenShard(written.stats, skipped=False, **held_stats)
    finally:
        if shard is not None:
            shard.abort()


def samples_within(ordered: list[HeldSample], max_bytes: int | None) -> int:
    """How many of the key-ordered samples a tar of at most ``max_bytes`` takes; like
    :class:`~babelshard.shards.writer.ShardWriter`, the first sample always goes in."""
    if max_bytes is None:
        return len(ordered)
    content = 0
    for count, sample in enumerate(ordered):
        if count and archive_size(content + sample.size) > max_bytes:
            return count
        content += sample.size
    return len(ordered)


def over_max_bytes(sample: HeldSample, max_bytes: int | None) -> Drop:
    return Drop(sample.key, SHARD_STAGE, ShardReason.OVER_MAX_BYTES, detail=f"the shard's tar would pass {max_bytes} bytes")


def commit_shard(
    folder: str, number: int, num_shards: int, info: ShardInfo, samples: int, drops: list[Drop], config_hash: str,
    counters: Mapping[str, int] | None = None,
) -> WrittenShard:
    stats = StageStats(inputs=samples + len(drops), outputs=samples)
    for drop in drops:
        stats.drop(drop.stage, drop.reason)
    stats.counters.update(counters or {})
    if drops:
        write_failures(folder, number, drops)
    else:
        remove_failures(folder, number)  # a rewritten shard whose earlier drops all became samples
    extra = {"config_hash": config_hash, "num_shards": num_shards}
    write_shard_stats(folder, info, stats, **extra)
    return WrittenShard({**info.as_json(), "stats": stats.as_json(), **extra}, skipped=False)


STORE_SETTLE_TRIES = 5


class ShardCommitConflict(RuntimeError):
    """Other attempts of a shard kept replacing its files on an object store."""


def settle_on_store(
    folder: str, number: int, attempt: Callable[..., WrittenShard], inputs: Counter, tries: int = STORE_SETTLE_TRIES
) -> WrittenShard:
    """Commit a shard on an object store, where each put replaces one whole object but
    nothing locks the three of a shard (tar, failures, stats) together.

    After its puts the attempt reads the three back; while they are not one attempt's
    (another attempt's puts landed between ours: two attempts that downloaded different
    images write different bytes), it puts its own again. Every attempt ends by reading
    back, so the last one to end finds the shard consistent: whichever attempt's it is,
    the stats on the store describe the tar and failures beside them, and the index is
    built from the stats on the store.
    """
    for tried in range(tries):
        written = attempt(keep_complete=tried == 0)
        stored = consistent_stored_shard(folder, number, inputs)
        if stored is not None:
            return written if stored == written.stats else replace(written, stats=stored, skipped=True)
    raise ShardCommitConflict(f"{join(folder, shard_name(number))}: other attempts replaced its files {tries} times")


def input_keys(samples: Iterable[EncodedSample | HeldSample], drops: Iterable[Drop]) -> Counter:
    """The keys a shard is written from (the same for every attempt of it: the plan fixes them)."""
    return Counter(sample.key for sample in samples) + Counter(drop.key for drop in drops)


def consistent_stored_shard(folder: str, number: int, inputs: Counter) -> dict | None:
    """The shard's stats when its tar and failures on the store are the ones they describe:
    the tar's sha256 and size, the failures' drops by reason, and the attempt's input keys,
    each as often as it was given, between the tar and the failures."""
    filesystem(folder)[0].invalidate_cache()  # other workers' puts are not in this process's listings
    stats = read_shard_stats(folder, shard_name(number))
    if stats is None:
        return None
    rows = read_failures(folder, number)
    if Counter(f"{row['stage']}/{row['reason']}" for row in rows) != Counter(stats["stats"]["drops"]):
        return None
    keys = Counter(row["key"] for row in rows)
    if stats["samples"]:
        digest, size, sample_keys = stored_tar_summary(join(folder, shard_name(number)))
        if (digest, size) != (stats["sha256"], stats["bytes"]):
            return None
        keys += sample_keys
    return stats if keys == inputs else None


class _HashingReader:
    def __init__(self, raw: Any):
        self.raw, self.sha256, self.size = raw, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


def stored_tar_summary(url: str) -> tuple[str, int, Counter]:
    """(sha256, size, sample keys) of a stored tar, read once as a stream."""
    fs, path = filesystem(url)
    with fs.open(path, "rb") as handle:
        reader = _HashingReader(handle)
        keys = Counter(tar_keys(reader, stream=True))
        while reader.read(1 << 20):
            pass
    return reader.sha256.hexdigest(), reader.size, keys


@contextlib.contextmanager
def commit_lock(folder: str) -> Iterator[None]:
    """An exclusive POSIX lock on the folder's ``.commit.lock`` (also across NFS clients);
    on an object store, whose uploads replace whole objects, nothing (:func:`settle_on_store`
    makes its shards consistent instead).

    POSIX locks belong to a process, so the threads of one worker process (bundles run
    in threads) also take a process-wide lock first.
    """
    fs, path = filesystem(folder)
    if not is_local(fs):
        yield
        return
    os.makedirs(path, exist_ok=True)
    with _PROCESS_COMMIT_LOCK, open(os.path.join(path, COMMIT_LOCK), "a+b") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def open_tar(folder: str, name: str, held: HeldSamples, samples: list[HeldSample]) -> ShardFile:
    """A tar of ``samples`` (of ``held``, in the order given) written under its attempt's
    hidden name, not yet committed."""
    shard = ShardFile(folder, name)
    try:
        for sample in samples:
            if sample.members is not None:
                shard.add(sample.members, sample.languages, sample.size)
            else:
                shard.add_encoded(held.spilled_data(sample), sample.languages)
        return shard
    except BaseException:
        shard.abort()
        raise


@dataclass
class ShardUnit:
    """One shard as a unit of work for per-shard stages (model stages between the download
    and the write, or between reading a shard and writing its copy): its number, its
    records (with their images), its drops so far and counters for its stats."""

    number: int
    records: list[Any]
    drops: list[Drop] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


def write_unit(
    folder: str, unit: ShardUnit, num_shards: int, config_hash: str, limits: ShardLimits = ShardLimits()
) -> WrittenShard:
    """:func:`write_shard` of a :class:`ShardUnit`."""
    samples = (encode_sample(record) for record in unit.records)
    return write_shard(folder, unit.number, num_shards, samples, unit.drops, config_hash, unit.counters, limits)
