"""The shard plan, fixed before any image is downloaded.

The number of shards comes from the number of candidate records; a record's shard is
``shard_of(key, num_shards)``. Shards that a previous run with the same plan and
config completed are skipped: their records (and drops) are filtered out before the
download, so a rerun fetches only what is missing, and the index step takes the
complete shards from disk.
"""
from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

from babelshard.fs import filesystem
from babelshard.pipelines.captions.retry import shards_to_retry
from babelshard.shards.bucket import completed_shards, shard_count, shard_of


def plan_shards(candidates: int, samples_per_shard: int) -> int:
    return shard_count(candidates, samples_per_shard)


def completed_for_plan(num_shards: int, folder: str, config_hash: str, retry_failed: bool = False) -> list[int]:
    """The complete shards a run skips; with ``retry_failed``, not those with transient download failures."""
    completed = completed_shards(folder, num_shards, config_hash)
    if retry_failed:
        completed -= shards_to_retry(folder, completed)
    return sorted(completed)


def prepare_folder(num_shards: int, folder: str) -> int:
    """Create the shard folder before any shard is written: a shard with only drops
    writes its failures parquet without creating the folder (object stores need none)."""
    fs, path = filesystem(folder)
    fs.makedirs(path, exist_ok=True)
    return num_shards


def is_pending(key: str, num_shards: int, completed: list[int] | frozenset) -> bool:
    """True when the shard of ``key`` still has to be written."""
    return shard_of(key, num_shards) not in completed


@dataclass
class ShardPlan:
    num_shards: beam.PCollection  # singleton int
    completed: beam.PCollection  # singleton sorted list of shard numbers


class PlanShards(beam.PTransform):
    """``candidates | PlanShards(folder, samples_per_shard, config_hash)`` -> :class:`ShardPlan`."""

    def __init__(self, folder: str, samples_per_shard: int, config_hash: str, retry_failed: bool = False):
        super().__init__()
        self.folder, self.samples_per_shard, self.config_hash = folder, samples_per_shard, config_hash
        self.retry_failed = retry_failed

    def expand(self, candidates) -> ShardPlan:
        count = candidates | "Count" >> beam.combiners.Count.Globally()
        num = (
            count
            | "NumShards" >> beam.Map(plan_shards, self.samples_per_shard)
            | "PrepareFolder" >> beam.Map(prepare_folder, self.folder)
        )
        done = num | "Completed" >> beam.Map(completed_for_plan, self.folder, self.config_hash, self.retry_failed)
        return ShardPlan(num, done)


class _KeepPending(beam.DoFn):
    def __init__(self, label: str):
        self.skipped = Metrics.counter("plan", f"skipped_complete/{label}")

    def setup(self) -> None:
        self._completed: frozenset | None = None

    def process(self, item, num_shards: int, completed: list[int]):
        if self._completed is None:
            self._completed = frozenset(completed)
        if is_pending(item.key, num_shards, self._completed):
            yield item
        else:
            self.skipped.inc()


class KeepPending(beam.PTransform):
    """Records or drops whose shard is not complete yet."""

    def __init__(self, plan: ShardPlan, label: str):
        super().__init__()
        self.plan, self.what = plan, label

    def expand(self, items):
        num = beam.pvalue.AsSingleton(self.plan.num_shards)
        done = beam.pvalue.AsSingleton(self.plan.completed)
        return items | beam.ParDo(_KeepPending(self.what), num, done)
