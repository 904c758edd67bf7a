"""``babelshard translate``: translate an existing caption shard folder into a new one.

    read caption shards -> TranslateCaptions -> <output>/caption
                                             -> <output>/parallel-mt (when configured)
                                             -> <output>/translate-failures/*.parquet (otherwise)

The input folder is read through its index (shards checked against their sha256);
the output is written with ``WriteShards``, so reruns skip complete shards and the
persistent translation cache makes them cheap.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from babelshard.pipelines.jobs.artifacts import artifact_checksums_under, with_artifacts
from babelshard.pipelines.jobs.config import JobConfig, index_extra
from babelshard.pipelines.jobs.shard_jobs import CAPTION_FOLDER, input_and_output, namespace_counters
from babelshard.pipelines.jobs.remote import check_worker_paths
from babelshard.configbase import ConfigError
from babelshard.fs import join
from babelshard.records import CaptionSample
from babelshard.shards.beam import WriteShards
from babelshard.shards.bucket import ShardLimits
from babelshard.shards.index import ShardInfo, read_index
from babelshard.shards.reader import iter_tar_samples, open_shard_bytes
from babelshard.stage import ApplyStage
from babelshard.translate.apertium_engine import ApertiumEngine
from babelshard.translate.config import ApertiumEngineConfig, TranslateConfig
from babelshard.translate.transform import TranslateCaptions, resolve_identities

PARALLEL_FOLDER = "parallel-mt"  # the folder `babelshard build` writes MT pairs to
FAILURES_FOLDER = "translate-failures"
DROP_SCHEMA = pa.schema([(name, pa.string()) for name in ("key", "stage", "reason", "detail", "url")])


def read_shard(shard: ShardInfo, folder: str) -> list[CaptionSample]:
    data = open_shard_bytes(folder, shard, verify=True)
    return [CaptionSample.from_sample(sample) for sample in iter_tar_samples(data, where=join(folder, shard.name))]


class ReadCaptionShards(beam.PTransform):
    """Caption samples of a finished shard folder, one shard per element."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def expand(self, pbegin):
        index = read_index(self.folder)
        if index.stream != "caption":
            raise ConfigError(f"{self.folder}: a {index.stream!r} shard folder; translation reads caption shards")
        return (
            pbegin
            | "Shards" >> beam.Create(list(index.shards))
            | "Spread" >> beam.Reshuffle()
            | "Read" >> ApplyStage("read_shards", partial(read_shard, folder=self.folder))
        ).main


def translate_config_hash(cfg: JobConfig, input_folder: str) -> str:
    """Marks output shards complete: the translation config, its models' bytes, its input and the shard size."""
    parts = {
        "translate": cfg.translate.model_dump(mode="json"), "input": input_folder, "per_shard": cfg.output.samples_per_shard,
    }
    parts = with_artifacts(parts, artifact_checksums_under(cfg, "translate"))
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def add_translate_job(pipeline: beam.Pipeline, cfg: JobConfig, input_folder: str, output: str) -> None:
    translate = cfg.translate
    digest = translate_config_hash(cfg, input_folder)
    extra = index_extra(cfg, job=cfg.name, translated_from=input_folder)
    samples = pipeline | "ReadCaptionShards" >> ReadCaptionShards(input_folder)
    result = samples | "Translate" >> TranslateCaptions(translate, resolve_identities(translate))
    result["samples"] | "WriteCaptionShards" >> WriteShards(
        join(output, CAPTION_FOLDER), "caption", samples_per_shard=cfg.output.samples_per_shard, config_hash=digest, extra=extra,
        limits=ShardLimits(memory_bytes=cfg.output.shard_memory_bytes),
    )
    if translate.outputs.parallel:
        {"samples": result["parallel"], "drops": result["drops"]} | "WriteParallelShards" >> WriteShards(
            join(output, PARALLEL_FOLDER), "parallel", samples_per_shard=cfg.output.samples_per_shard,
            config_hash=digest, extra={**extra, "provenance": "mt"}, limits=ShardLimits(memory_bytes=cfg.output.shard_memory_bytes),
        )
    else:
        _ = (
            result["drops"]
            | "DropRows" >> beam.Map(lambda drop: drop.as_row())
            | "WriteFailures" >> beam.io.WriteToParquet(
                join(output, FAILURES_FOLDER, "part"), DROP_SCHEMA, file_name_suffix=".parquet"
            )
        )


@dataclass(frozen=True)
class TranslateSummary:
    output: str
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)


def check_apertium_pairs(translate: TranslateConfig) -> None:
    """Fail before any work when a local run needs an Apertium pair that is not installed."""
    for target, name in sorted(translate.targets.items()):
        engine = translate.engines[name]
        if isinstance(engine, ApertiumEngineConfig):
            ApertiumEngine(engine).check_pair(translate.source_language, target)


def run_translate(cfg: JobConfig, input_folder: str | None = None, output: str | None = None,
                  argv: Sequence[str] = ()) -> TranslateSummary:
    """Build and run the translation job; returns where it wrote and its counters."""
    source, target = input_and_output(cfg.translate, "translate", input_folder, output, cfg.output.folder)
    options = PipelineOptions([*cfg.beam.as_flags(), *argv])
    check_worker_paths(translate_paths(cfg, input_folder, output), options)
    if "Direct" in str(options.view_as(StandardOptions).runner or "DirectRunner"):
        check_apertium_pairs(cfg.translate)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    add_translate_job(pipeline, cfg, source, target)
    result = pipeline.run()
    result.wait_until_finish()
    return TranslateSummary(target, time.monotonic() - started, translate_counters(result))


def translate_paths(cfg: JobConfig, input_folder: str | None, output: str | None) -> list[tuple[str, str]]:
    """(key, path) of what the translation job's workers read and write; command-line flags named as such."""
    paths = [
        ("--input", input_folder) if input_folder else ("translate.input_folder", cfg.translate.input_folder),
        ("--output", output) if output else ("output.folder", cfg.output.folder),
    ]
    if cfg.translate.cache.url:
        paths.append(("translate.cache.url", cfg.translate.cache.url))
    return paths


def translate_counters(result) -> dict[str, int]:
    return namespace_counters(result, "translate")