"""``WriteShards``: a Beam sink for shard folders that works on any runner.

Samples (and drops) are assigned to shard ``hash(key) mod N`` where N comes from the
number of samples (or is given), so the same inputs always give the same shards.
Each shard's samples are sorted by key and written by one worker; a shard already
complete with a matching checksum is left as it is, so a rerun after a crash only
writes what is missing and yields identical bytes. ``index.json`` is written last.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from babelshard.fs import filesystem, join
from babelshard.stats import Drop, StageStats, merge_stats
from babelshard.shards.index import ShardInfo, build_index, write_index
from babelshard.shards.tario import sample_members
from babelshard.shards.writer import ShardFile, read_shard_stats, shard_name, write_folder_stats, write_shard_stats

DEFAULT_SAMPLES_PER_SHARD = 10_000


def shard_of(key: str, num_shards: int) -> int:
    """The shard a key belongs to; stable across runs, processes and runners."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % num_shards


def shard_count(samples: int, samples_per_shard: int) -> int:
    return max(1, math.ceil(samples / samples_per_shard))


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


def write_failures(folder: str, name: str, drops: list[Drop]) -> None:
    rows = [drop.as_row() for drop in sorted(drops, key=lambda d: (d.key, d.stage, d.reason))]
    table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in ("key", "stage", "reason", "detail", "url")]))
    fs, path = filesystem(join(folder, name[: -len(".tar")] + ".failures.parquet"))
    fs.makedirs(filesystem(folder)[1], exist_ok=True)
    with fs.open(path, "wb") as handle:
        pq.write_table(table, handle)


def encode_sample(record: Any) -> tuple[str, list[tuple[str, bytes]], dict[str, int]]:
    """(key, tar members, language counts): what a shard needs of a record."""
    return record.key, sample_members(record.to_sample()), record.language_counts()


def encode_for_shard(record: Any, num_shards: int) -> tuple[int, tuple[str, tuple]]:
    """(shard number, encoded sample): plain bytes and strings shuffle far cheaper than
    pickled records, and encoding before the shuffle leaves the writer a byte copy."""
    return shard_of(record.key, num_shards), ("s", encode_sample(record))


class WriteBucket(beam.DoFn):
    """Writes one shard from the samples and drops hashed to it."""

    def __init__(self, folder: str, config_hash: str):
        self.folder, self.config_hash = folder, config_hash
        self.written = Metrics.counter("write_shards", "shards_written")
        self.skipped = Metrics.counter("write_shards", "shards_skipped_complete")

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]], num_shards: int):
        number, items = element
        samples, drops = [], []
        for kind, value in items:  # ("s", encode_sample(record)) or ("d", drop)
            (samples if kind == "s" else drops).append(value)
        done = completed_shard(self.folder, number, num_shards, self.config_hash)
        if done is not None and done["samples"] == len(samples):
            self.skipped.inc()
            yield done
            return
        samples.sort(key=lambda encoded: encoded[0])
        stats = StageStats(inputs=len(samples) + len(drops), outputs=len(samples))
        for drop in drops:
            stats.drop(drop.stage, drop.reason)
        name = shard_name(number)
        info = ShardInfo(name, 0, 0, "", {})
        if samples:
            shard = ShardFile(self.folder, name)
            try:
                for _, members, languages in samples:
                    shard.add(members, languages)
                info = shard.commit()
            except BaseException:
                shard.abort()
                raise
        if drops:
            write_failures(self.folder, name, drops)
        extra = {"config_hash": self.config_hash, "num_shards": num_shards}
        write_shard_stats(self.folder, info, stats, **extra)
        self.written.inc()
        yield {**info.as_json(), "stats": stats.as_json(), **extra}


class FinishIndex(beam.DoFn):
    """Runs once all shards are written: folder stats, then ``index.json`` last."""

    def __init__(self, folder: str, stream: str, config_hash: str, extra: dict | None):
        self.folder, self.stream, self.config_hash, self.extra = folder, stream, config_hash, extra

    def process(self, written: list[dict], num_shards: int):
        by_number = {int(item["name"][6:12]): item for item in written}
        for number in range(num_shards):
            if number not in by_number:
                done = completed_shard(self.folder, number, num_shards, self.config_hash, verify=False)
                if done is not None:
                    by_number[number] = done
        shards = [
            ShardInfo(s["name"], s["samples"], s["bytes"], s["sha256"], s.get("languages", {})) for s in by_number.values()
        ]
        write_folder_stats(self.folder, merge_stats(StageStats.from_json(s["stats"]) for s in by_number.values()))
        index = build_index(self.stream, shards, self.config_hash, self.extra)
        write_index(self.folder, index)
        yield index


class WriteShards(beam.PTransform):
    """Write a PCollection of records (or ``{"samples": ..., "drops": ...}``) as a shard folder.

    ``num_shards`` may be an int, a singleton PCollection, or None (from the sample count
    and ``samples_per_shard``). The output is a one-element PCollection with the index.
    """

    def __init__(
        self,
        folder: str,
        stream: str,
        *,
        samples_per_shard: int = DEFAULT_SAMPLES_PER_SHARD,
        num_shards: Any = None,
        config_hash: str = "",
        extra: dict | None = None,
    ):
        super().__init__()
        self.folder, self.stream = str(folder), stream
        self.samples_per_shard, self.num_shards = samples_per_shard, num_shards
        self.config_hash, self.extra = config_hash, extra

    def expand(self, inputs):
        if isinstance(inputs, dict):
            samples = inputs["samples"]
            drops = inputs.get("drops")
        else:
            samples, drops = inputs, None
        pipeline = samples.pipeline
        if drops is None:
            drops = pipeline | "NoDrops" >> beam.Create([])
        if self.num_shards is None:
            per_shard = self.samples_per_shard
            count = samples | "CountSamples" >> beam.combiners.Count.Globally()
            num = count | "ShardCount" >> beam.Map(shard_count, per_shard)
        elif isinstance(self.num_shards, int):
            num = pipeline | "ShardCount" >> beam.Create([self.num_shards])
        else:
            num = self.num_shards
        num_side = beam.pvalue.AsSingleton(num)
        keyed_samples = samples | "KeySamples" >> beam.Map(encode_for_shard, num_side)
        keyed_drops = drops | "KeyDrops" >> beam.Map(lambda d, n: (shard_of(d.key, n), ("d", d)), num_side)
        written = (
            (keyed_samples, keyed_drops)
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteBucket(self.folder, self.config_hash), num_side)
        )
        return (
            written
            | "CollectShards" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.ParDo(FinishIndex(self.folder, self.stream, self.config_hash, self.extra), num_side)
        )
