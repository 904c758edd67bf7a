"""Download and write one planned shard in one step (img2dataset's unit of work).

Records (captions and URLs, no images) and the drops of earlier stages are grouped by
their planned shard; each group is downloaded with a thread pool and written by
``WriteShards``' own ``WriteBucket``, in the same worker. Image bytes never cross a
shuffle, which on a multi-process or distributed runner is most of the cost of
moving them. ``FinishIndex`` writes the index last, as ``WriteShards`` does.

Used when no stage runs between download and writing; with translation or
code-switching configured, the build job downloads with ``DownloadImages`` and writes
with ``WriteShards`` instead.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import apache_beam as beam

from babelshard.pipelines.captions.config import DownloadConfig
from babelshard.pipelines.captions.download import Downloads
from babelshard.pipelines.captions.plan import ShardPlan
from babelshard.records import CaptionSample
from babelshard.shards.beam import FinishIndex, WriteBucket, encode_sample, shard_of
from babelshard.stats import Drop

RECORD, DROP = "r", "d"


def key_by_shard(item: CaptionSample | Drop, kind: str, num_shards: int) -> tuple[int, tuple[str, Any]]:
    return shard_of(item.key, num_shards), (kind, item)


def download_group(items: Iterable[tuple[str, Any]], downloads: Downloads) -> Iterator[tuple[str, Any]]:
    """Earlier drops as they are; each record downloaded, as an encoded sample (``s``) or a drop (``d``)."""
    for kind, value in items:
        if kind == DROP:
            yield DROP, value
            continue
        yield from map(tagged, downloads.submit(value))
    yield from map(tagged, downloads.drain())


def tagged(result: CaptionSample | Drop) -> tuple[str, Any]:
    """What ``WriteBucket`` takes: ``("d", drop)`` or ``("s", (key, members, languages))``."""
    return (DROP, result) if isinstance(result, Drop) else ("s", encode_sample(result))


class DownloadShardDoFn(beam.DoFn):
    def __init__(self, settings: DownloadConfig, folder: str, config_hash: str):
        self.settings = settings
        self.write = WriteBucket(folder, config_hash)

    def setup(self) -> None:
        self.downloads = Downloads(self.settings)

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]], num_shards: int):
        number, items = element
        results = list(download_group(items, self.downloads))
        yield from self.write.process((number, results), num_shards)

    def teardown(self) -> None:
        if getattr(self, "downloads", None) is not None:
            self.downloads.close()


class DownloadAndWriteShards(beam.PTransform):
    """``{"records": ..., "drops": ...} | DownloadAndWriteShards(...)``: the index, as ``WriteShards``."""

    def __init__(self, settings: DownloadConfig, folder: str, plan: ShardPlan, config_hash: str, extra: dict):
        super().__init__()
        self.settings, self.folder, self.plan = settings, folder, plan
        self.config_hash, self.extra = config_hash, extra

    def expand(self, inputs):
        num = beam.pvalue.AsSingleton(self.plan.num_shards)
        records = inputs["records"] | "KeyRecords" >> beam.Map(key_by_shard, RECORD, num)
        drops = inputs["drops"] | "KeyDrops" >> beam.Map(key_by_shard, DROP, num)
        written = (
            (records, drops)
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "DownloadAndWrite" >> beam.ParDo(DownloadShardDoFn(self.settings, self.folder, self.config_hash), num)
        )
        return (
            written
            | "CollectShards" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.ParDo(FinishIndex(self.folder, "caption", self.config_hash, self.extra), num)
        )
