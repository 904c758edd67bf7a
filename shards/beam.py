"""``WriteShards``: a Beam sink for shard folders that works on any runner.

Samples (and drops) are assigned to shard ``hash(key) mod N`` where N comes from the
number of samples (or is given), so the same inputs always give the same shards.
Samples are encoded to tar members before the shuffle; each shard is written by one
worker with :func:`babelshard.shards.bucket.write_shard` (sorted by key; a shard already
complete with a matching checksum is left as it is, so a rerun after a crash only
writes what is missing and yields identical bytes). ``index.json`` is written last.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from babelshard.stats import Drop, StageStats, merge_stats
from babelshard.fs import filesystem, is_local
from babelshard.shards.bucket import (
    EncodedSample, ShardCommitConflict, ShardLimits, ShardUnit, WrittenShard, completed_shard, encode_sample,
    hold_samples, key_by_shard, remove_shards_outside, shard_count, shard_of, write_shard, write_unit,
)
from babelshard.shards.index import ShardInfo, build_index, write_index
from babelshard.shards.writer import write_folder_stats

DEFAULT_SAMPLES_PER_SHARD = 10_000


def encode_for_shard(record: Any, num_shards: int) -> tuple[int, tuple]:
    """(shard number, the encoded sample as a plain tuple). Encoding before the shuffle
    leaves the writer a byte copy; a tuple of strings and bytes is what Beam's coder
    encodes natively (an :class:`EncodedSample` it would pickle, about 10 µs more per
    sample each way)."""
    sample = encode_sample(record)
    return shard_of(sample.key, num_shards), (sample.key, sample.members, sample.languages)


def shard_items(values: Iterable[tuple | Drop]) -> Iterator[EncodedSample | Drop]:
    """A shard's shuffled values as typed items: drops as they are, samples from their tuples."""
    for value in values:
        yield value if isinstance(value, Drop) else EncodedSample(*value)


def count_written(written: WrittenShard) -> None:
    """Shards written or skipped; samples spilled, and the most bytes held in memory by one shard."""
    name = "shards_skipped_complete" if written.skipped else "shards_written"
    Metrics.counter("write_shards", name).inc()
    Metrics.counter("write_shards", "samples_spilled").inc(written.spilled_samples)
    Metrics.distribution("write_shards", "peak_held_bytes").update(written.peak_held_bytes)


class WriteBucket(beam.DoFn):
    """Writes one shard from the encoded samples and drops hashed to it."""

    def __init__(self, folder: str, config_hash: str, limits: ShardLimits = ShardLimits()):
        self.folder, self.config_hash, self.limits = folder, config_hash, limits

    def process(self, element: tuple[int, Iterable[tuple | Drop]], num_shards: int):
        number, values = element
        drops: list[Drop] = []
        with hold_samples(self.folder, number, samples_apart(shard_items(values), drops), self.limits.memory_bytes) as held:
            written = write_shard(self.folder, number, num_shards, held, drops, self.config_hash, limits=self.limits)
        count_written(written)
        yield written.stats


def samples_apart(items: Iterable[EncodedSample | Drop], drops: list[Drop]) -> Iterator[EncodedSample]:
    """The samples of ``items``; its drops go to ``drops`` on the way."""
    for item in items:
        if isinstance(item, Drop):
            drops.append(item)
        else:
            yield item


def stored_stats(folder: str, number: int, num_shards: int, config_hash: str) -> dict:
    """The stats of a written shard as the store holds them (sizes checked)."""
    done = completed_shard(folder, number, num_shards, config_hash, verify=False)
    if done is None:
        raise ShardCommitConflict(f"{folder}: shard {number} was written but its stats or tar are not there as written")
    return done


class FinishIndex(beam.DoFn):
    """Runs once all shards are written: shard files of another plan removed, folder stats,
    then ``index.json`` last."""

    def __init__(self, folder: str, stream: str, config_hash: str, extra: dict | None):
        self.folder, self.stream, self.config_hash, self.extra = folder, stream, config_hash, extra

    def process(self, written: list[dict], num_shards: int):
        by_number = {int(item["name"][6:12]): item for item in written}
        if not is_local(filesystem(self.folder)[0]):
            # on an object store another attempt of a shard may have settled it after the
            # attempt whose output this is: the index takes what the store holds
            by_number = {number: stored_stats(self.folder, number, num_shards, self.config_hash) for number in by_number}
        for number in range(num_shards):
            if number not in by_number:
                done = completed_shard(self.folder, number, num_shards, self.config_hash, verify=False)
                if done is not None:
                    by_number[number] = done
        shards = [
            ShardInfo(s["name"], s["samples"], s["bytes"], s["sha256"], s.get("languages", {})) for s in by_number.values()
        ]
        remove_shards_outside(self.folder, set(by_number))
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
        limits: ShardLimits = ShardLimits(),
    ):
        super().__init__()
        self.folder, self.stream = str(folder), stream
        self.samples_per_shard, self.num_shards = samples_per_shard, num_shards
        self.config_hash, self.extra, self.limits = config_hash, extra, limits

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
        keyed_drops = drops | "KeyDrops" >> beam.Map(key_by_shard, num_side)
        written = (
            (keyed_samples, keyed_drops)
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteBucket(self.folder, self.config_hash, self.limits), num_side)
        )
        return (
            written
            | "CollectShards" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.ParDo(FinishIndex(self.folder, self.stream, self.config_hash, self.extra), num_side)
        )


class WriteUnit(beam.DoFn):
    """Writes one :class:`~babelshard.shards.bucket.ShardUnit` as its shard."""

    def __init__(self, folder: str, config_hash: str, limits: ShardLimits = ShardLimits()):
        self.folder, self.config_hash, self.limits = folder, config_hash, limits

    def process(self, unit: ShardUnit, num_shards: int):
        written = write_unit(self.folder, unit, num_shards, self.config_hash, self.limits)
        count_written(written)
        yield written.stats


class WriteShardUnits(beam.PTransform):
    """``units | WriteShardUnits(folder, stream, num_shards, ...)``: each unit as its shard,
    then the folder's stats and ``index.json`` (complete shards not among the units are
    taken from disk). ``num_shards``: an int or a singleton PCollection."""

    def __init__(
        self, folder: str, stream: str, num_shards: Any, config_hash: str, extra: dict | None = None,
        limits: ShardLimits = ShardLimits(),
    ):
        super().__init__()
        self.folder, self.stream, self.num_shards = folder, stream, num_shards
        self.config_hash, self.extra, self.limits = config_hash, extra, limits

    def expand(self, units):
        num = self.num_shards
        if isinstance(num, int):
            num = units.pipeline | "ShardCount" >> beam.Create([num])
        num_side = beam.pvalue.AsSingleton(num)
        return (
            units
            | "WriteShard" >> beam.ParDo(WriteUnit(self.folder, self.config_hash, self.limits), num_side)
            | "CollectShards" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.ParDo(FinishIndex(self.folder, self.stream, self.config_hash, self.extra), num_side)
        )
