"""Download and write one planned shard in one step (img2dataset's unit of work).

Records (captions, translations and code-switched variants, no images) and the drops
of earlier stages are grouped by their planned shard; each group is downloaded with a
thread pool and written with :func:`babelshard.shards.bucket.write_shard`, in the same
worker. Image bytes never cross a shuffle, which on a multi-process or distributed
runner is most of the cost of moving them. ``FinishIndex`` writes the index last, as
in ``WriteShards``. ``DownloadShards`` stops after the download and yields each shard
as a :class:`~babelshard.shards.bucket.ShardUnit`, for per-shard stages (the model
stages) that run before the shard is written (``WriteShardUnits``).
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import apache_beam as beam

from babelshard.pipelines.captions.config import DownloadConfig
from babelshard.pipelines.captions.download import Downloads
from babelshard.pipelines.captions.plan import ShardPlan
from babelshard.pipelines.captions.retry import has_retryable_drops, hold_kept_samples, previous_shard, split_for_retry
from babelshard.records import CaptionSample
from babelshard.shards.beam import FinishIndex, count_written
from babelshard.shards.bucket import (
    ShardLimits, ShardUnit, WrittenShard, completed_shard, encode_sample, key_by_shard, write_shard,
)
from babelshard.shards.held import HeldSamples
from babelshard.shards.writer import shard_name
from babelshard.stats import Drop


def download_results(items: Iterable[CaptionSample | Drop], downloads: Downloads) -> Iterator[CaptionSample | Drop]:
    """Earlier drops as they are; each record downloaded (a sample with its image) or dropped."""
    for item in items:
        if isinstance(item, Drop):
            yield item
        else:
            yield from downloads.submit(item)
    yield from downloads.drain()


def download_shard(items: Iterable[CaptionSample | Drop], downloads: Downloads, held: HeldSamples) -> list[Drop]:
    """Download one shard's records into ``held`` (each image goes into tar members as it
    arrives, held in memory or spilled); the drops."""
    drops: list[Drop] = []
    for result in download_results(items, downloads):
        if isinstance(result, Drop):
            drops.append(result)
        else:
            sample = encode_sample(result)
            held.add(sample.key, sample.members, sample.languages)
    return drops


def completed_before_download(folder: str, number: int, num_shards: int, config_hash: str, inputs: int) -> dict | None:
    """The stats of the shard when an attempt of this run (a retried bundle) already wrote it
    from the same ``inputs`` records and drops: checked before any image is downloaded."""
    done = completed_shard(folder, number, num_shards, config_hash)
    return done if done is not None and done["stats"]["inputs"] == inputs else None


class DownloadShardDoFn(beam.DoFn):
    """(shard number, its records and drops) -> the written shard's stats."""

    def __init__(
        self, settings: DownloadConfig, folder: str, config_hash: str, retry_failed: bool = False,
        limits: ShardLimits = ShardLimits(),
    ):
        self.settings, self.folder, self.config_hash = settings, folder, config_hash
        self.retry_failed, self.limits = retry_failed, limits

    def setup(self) -> None:
        self.downloads = Downloads(self.settings)

    def process(self, element: tuple[int, Iterable[CaptionSample | Drop]], num_shards: int):
        number, items = element
        items = list(items)
        done = completed_before_download(self.folder, number, num_shards, self.config_hash, len(items))
        if done is not None and not (self.retry_failed and has_retryable_drops(self.folder, number)):
            count_written(WrittenShard(done, skipped=True))
            yield done
            return
        previous = previous_shard(self.folder, number, num_shards, self.config_hash) if self.retry_failed else None
        with HeldSamples(self.folder, shard_name(number), self.limits.memory_bytes) as held:
            drops: list[Drop] = []
            if previous is not None:
                items, kept_keys, drops = split_for_retry(items, previous)
                hold_kept_samples(previous, kept_keys, held)
            drops += download_shard(items, self.downloads, held)
            written = write_shard(self.folder, number, num_shards, held, drops, self.config_hash, limits=self.limits)
        count_written(written)
        yield written.stats

    def teardown(self) -> None:
        if getattr(self, "downloads", None) is not None:
            self.downloads.close()


class DownloadUnitDoFn(DownloadShardDoFn):
    """(shard number, its records and drops) -> a :class:`ShardUnit` of the downloaded samples and the drops."""

    def __init__(self, settings: DownloadConfig):
        self.settings = settings

    def process(self, element: tuple[int, Iterable[CaptionSample | Drop]]):
        number, items = element
        unit = ShardUnit(number, [])
        for result in download_results(items, self.downloads):
            (unit.drops if isinstance(result, Drop) else unit.records).append(result)
        yield unit


def group_by_shard(inputs: dict, plan: ShardPlan):
    """``{"records": ..., "drops": ...}`` grouped by planned shard: (shard number, its items)."""
    num = beam.pvalue.AsSingleton(plan.num_shards)
    records = inputs["records"] | "KeyRecords" >> beam.Map(key_by_shard, num)
    drops = inputs["drops"] | "KeyDrops" >> beam.Map(key_by_shard, num)
    return (records, drops) | "Merge" >> beam.Flatten() | "GroupByShard" >> beam.GroupByKey()


class DownloadShards(beam.PTransform):
    """``{"records": ..., "drops": ...} | DownloadShards(settings, plan)``: one :class:`ShardUnit`
    per planned shard with records or drops, its images downloaded, for per-shard stages
    (the model stages) before the shard is written."""

    def __init__(self, settings: DownloadConfig, plan: ShardPlan):
        super().__init__()
        self.settings, self.plan = settings, plan

    def expand(self, inputs):
        return group_by_shard(inputs, self.plan) | "Download" >> beam.ParDo(DownloadUnitDoFn(self.settings))


class DownloadAndWriteShards(beam.PTransform):
    """``{"records": ..., "drops": ...} | DownloadAndWriteShards(...)``: the index, as ``WriteShards``."""

    def __init__(
        self, settings: DownloadConfig, folder: str, plan: ShardPlan, config_hash: str, extra: dict, retry_failed: bool = False,
        limits: ShardLimits = ShardLimits(),
    ):
        super().__init__()
        self.settings, self.folder, self.plan = settings, folder, plan
        self.config_hash, self.extra, self.retry_failed, self.limits = config_hash, extra, retry_failed, limits

    def expand(self, inputs):
        num = beam.pvalue.AsSingleton(self.plan.num_shards)
        download = DownloadShardDoFn(self.settings, self.folder, self.config_hash, self.retry_failed, self.limits)
        written = (
            group_by_shard(inputs, self.plan)
            | "DownloadAndWrite" >> beam.ParDo(download, num).with_output_types(dict[str, Any])
        )
        return (
            written
            | "CollectShards" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.ParDo(FinishIndex(self.folder, "caption", self.config_hash, self.extra), num)
        )
