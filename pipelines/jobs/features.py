"""``babelshard features``: the model stages over an existing caption shard folder.

    input index -> shards not complete in the output -> read each shard (one worker)
      -> ComputeFeatures (RunInference) -> write it as the output's shard of the same number
      -> <output>/caption/index.json

Each output shard is the input shard of the same position in the input's index, with the
``.npy`` members and metadata the model stages add and without the samples the CLIP-score
filter drops (in its failures table and stats). A rerun skips output shards that a run
with the same config and input completed (checked before any model runs), and writes
the same bytes for the others.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from babelshard.configbase import ConfigError
from babelshard.fs import join
from babelshard.pipelines.features.beam import ComputeFeatures
from babelshard.pipelines.features.config import FeaturesConfig
from babelshard.pipelines.features.models import check_checkpoints
from babelshard.pipelines.jobs.config import JobConfig, index_extra
from babelshard.pipelines.jobs.shard_jobs import CAPTION_FOLDER, input_and_output, namespace_counters
from babelshard.pipelines.jobs.remote import check_worker_paths, remote_runner
from babelshard.pipelines.jobs.translate import read_shard
from babelshard.shards.beam import WriteShardUnits
from babelshard.shards.bucket import ShardUnit, completed_shard
from babelshard.shards.index import ShardIndex, ShardInfo, read_index



def features_config_hash(settings: FeaturesConfig, input_folder: str, index: ShardIndex) -> str:
    """Marks output shards complete: the model stages' config and the input shards' checksums."""
    parts = {
        "features": settings.model_dump(mode="json", exclude={"input_folder"}),
        "input": input_folder.rstrip("/"),
        "shards": [shard.sha256 for shard in index.shards],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def pending_shards(index: ShardIndex, folder: str, config_hash: str) -> list[tuple[int, ShardInfo]]:
    """(output number, input shard) of every output shard not yet complete."""
    total = len(index.shards)
    return [(n, shard) for n, shard in enumerate(index.shards) if completed_shard(folder, n, total, config_hash) is None]


def read_unit(item: tuple[int, ShardInfo], folder: str) -> ShardUnit:
    number, shard = item
    Metrics.counter("features", "shards_read").inc()
    return ShardUnit(number, read_shard(shard, folder))


def add_features_job(pipeline: beam.Pipeline, settings: FeaturesConfig, input_folder: str, output: str,
                     extra: dict) -> int:
    """The job's steps; returns how many output shards are complete already (skipped)."""
    index = read_index(input_folder)
    if index.stream != "caption":
        raise ConfigError(f"{input_folder}: a {index.stream!r} shard folder; the model stages read caption shards")
    folder, digest = join(output, CAPTION_FOLDER), features_config_hash(settings, input_folder, index)
    pending = pending_shards(index, folder, digest)
    (
        pipeline
        | "Shards" >> beam.Create(pending)
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.Map(read_unit, input_folder)
        | "Features" >> ComputeFeatures(settings)
        | "WriteShards" >> WriteShardUnits(folder, "caption", len(index.shards), digest, extra)
    )
    return len(index.shards) - len(pending)


@dataclass(frozen=True)
class FeaturesSummary:
    output: str
    seconds: float
    skipped: int
    counters: dict[str, int] = field(default_factory=dict)


def features_paths(cfg: JobConfig, input_folder: str | None, output: str | None) -> list[tuple[str, str]]:
    """(key, path) of the folders the job's workers read and write (the checkpoints are the
    workers' own files, as in the worker image)."""
    return [
        ("--input", input_folder) if input_folder else ("features.input_folder", cfg.features.input_folder),
        ("--output", output) if output else ("output.folder", cfg.output.folder),
    ]


def run_features(cfg: JobConfig, input_folder: str | None = None, output: str | None = None,
                 argv: Sequence[str] = ()) -> FeaturesSummary:
    """Build and run the shard-to-shard job; returns where it wrote and what it skipped."""
    source, target = input_and_output(cfg.features, "features", input_folder, output, cfg.output.folder)
    options = PipelineOptions([*cfg.beam.as_flags(), *argv])
    check_worker_paths(features_paths(cfg, input_folder, output), options)
    if remote_runner(options) is None:
        check_checkpoints(cfg.features)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    skipped = add_features_job(pipeline, cfg.features, source, target, index_extra(cfg, job=cfg.name, features_from=source))
    result = pipeline.run()
    result.wait_until_finish()
    return FeaturesSummary(target, time.monotonic() - started, skipped, feature_counters(result))


def feature_counters(result) -> dict[str, int]:
    return namespace_counters(result, "features")