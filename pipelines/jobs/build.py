"""``build_pipeline(cfg, options)``: the build job, assembled from labelled composite steps.

The caption stream reads like a list: read sources, clean, dedup, check language,
translate, code-switch (all on records without images), plan shards, skip complete
shards, then download and write each shard in one step, so image bytes never cross a
shuffle; model stages (``features``), where configured, run on each shard between its
download and its write. The text and parallel streams come from
``babelshard.pipelines.jobs.text.add_text_streams``.

The modules of model stages (the language check, translation, code-switching,
``features``, the text streams' language ID) are imported where their stage is built:
they import Beam's ML package and torch, which a job without them then does not load,
in this process or in its workers.
"""
from __future__ import annotations

import hashlib
import json
from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from babelshard.pipelines.jobs.artifacts import artifact_checksums_under, with_artifacts
from babelshard.pipelines.jobs.config import DEFAULT_MAX_SHARD_BYTES, JobConfig, index_extra
from babelshard.configbase import ConfigError
from babelshard.fs import join
from babelshard.pipelines.captions.cleaning import DedupCaptions, clean_stage
from babelshard.pipelines.captions.download_shards import DownloadAndWriteShards, DownloadShards
from babelshard.pipelines.captions.plan import KeepPending, PlanShards
from babelshard.pipelines.captions.read import ReadCaptionSources
from babelshard.pipelines.jobs.mt_pairs import PairsOfSamples
from babelshard.shards.beam import WriteShards, WriteShardUnits
from babelshard.shards.bucket import ShardLimits

CAPTION_STREAM = "caption"
MT_PARALLEL_FOLDER = "parallel-mt"
RUNNER_ONLY_FIELDS = {"download": {"worker_processes"}}  # caption settings that cannot change shard bytes


def pipeline_options(cfg: JobConfig, argv: Sequence[str] = ()) -> PipelineOptions:
    """The config's Beam defaults, overridden by any flags given on the command line."""
    return PipelineOptions([*cfg.beam.as_flags(), *argv])


def caption_config_hash(cfg: JobConfig) -> str:
    """The hash that marks caption shards complete: everything that changes their content,
    the bytes of the models and dictionaries the caption stages load included. The
    number of worker processes only divides the per-host limits among them: left out."""
    parts = {
        "captions": cfg.captions.model_dump(mode="json", exclude=RUNNER_ONLY_FIELDS) if cfg.captions else None,
        "translate": cfg.translate.model_dump(mode="json") if cfg.translate else None,
        "codeswitch": cfg.codeswitch.model_dump(mode="json") if cfg.codeswitch else None,
        "samples_per_shard": cfg.output.samples_per_shard,
    }
    if cfg.output.max_shard_bytes != DEFAULT_MAX_SHARD_BYTES:  # the cap can drop samples; absent at the default, as it was
        parts["max_shard_bytes"] = cfg.output.max_shard_bytes
    if cfg.features is not None:  # absent otherwise, so configs without model stages keep their hash
        parts["features"] = cfg.features.model_dump(mode="json", exclude={"input_folder"})
    parts = with_artifacts(parts, artifact_checksums_under(cfg, "captions", "translate", "codeswitch"))
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def caption_shard_limits(cfg: JobConfig) -> ShardLimits:
    """The caption shards' limits: ``output.max_shard_bytes`` and ``output.shard_memory_bytes``."""
    return ShardLimits(memory_bytes=cfg.output.shard_memory_bytes, max_bytes=cfg.output.max_shard_bytes)


def caption_folder(cfg: JobConfig) -> str:
    return join(cfg.output.folder, CAPTION_STREAM)


def build_pipeline(cfg: JobConfig, options: PipelineOptions | None = None, retry_failed: bool = False) -> beam.Pipeline:
    """The build job; with ``retry_failed``, complete caption shards are rewritten where
    images failed to download for a transient reason, fetching only those images."""
    if cfg.captions is None and cfg.text is None and cfg.parallel is None:
        raise ConfigError("nothing to build: the config has no captions, text or parallel section")
    pipeline = beam.Pipeline(options=options or pipeline_options(cfg))
    if cfg.captions is not None:
        add_caption_stream(pipeline, cfg, retry_failed)
    if cfg.text is not None or cfg.parallel is not None:
        from babelshard.pipelines.jobs.text import add_text_streams

        add_text_streams(pipeline, cfg)
    return pipeline


def add_caption_stream(pipeline: beam.Pipeline, cfg: JobConfig, retry_failed: bool = False) -> None:
    captions, folder, digest = cfg.captions, caption_folder(cfg), caption_config_hash(cfg)
    if not captions.sources:
        raise ConfigError("captions.sources is empty: name at least one caption source")
    read = pipeline | "ReadCaptions" >> ReadCaptionSources(captions.sources)
    cleaned = read.main | "Clean" >> clean_stage(captions.cleaning)
    unique = cleaned.main | "Dedup" >> DedupCaptions(by_url=captions.cleaning.dedup)
    drops = [read.drops, cleaned.drops, unique.drops]
    candidates = unique.main
    if captions.cleaning.language_check is not None:
        from babelshard.pipelines.captions.language import language_check_stage

        checked = candidates | "LanguageCheck" >> language_check_stage(captions.cleaning.language_check)
        candidates, drops = checked.main, drops + [checked.drops]
    plan = candidates | "PlanShards" >> PlanShards(folder, cfg.output.samples_per_shard, digest, retry_failed)
    earlier_drops = tuple(drops) | "EarlierDrops" >> beam.Flatten() | "SkipCompleteDrops" >> KeepPending(plan, "drops")
    if writes_mt_pairs(cfg):
        records, translated = add_caption_text_stages(candidates, cfg)
        records = records | "SkipCompleteShards" >> KeepPending(plan, "records")
    else:
        pending = candidates | "SkipCompleteShards" >> KeepPending(plan, "records")
        records, translated = add_caption_text_stages(pending, cfg)
    index = write_caption_shards({"records": records, "drops": earlier_drops}, cfg, plan, digest, retry_failed)
    if writes_mt_pairs(cfg):
        write_mt_pairs(translated, index, plan, cfg)


def write_caption_shards(inputs: dict, cfg: JobConfig, plan, digest: str, retry_failed: bool = False):
    """Download and write each planned shard; with model stages, they run on each shard
    between its download and its write (in the same worker: no shuffle of images)."""
    folder, extra = caption_folder(cfg), index_extra(cfg, job=cfg.name)
    if cfg.features is None:
        return inputs | "DownloadAndWriteShards" >> DownloadAndWriteShards(
            cfg.captions.download, folder, plan, digest, extra, retry_failed, caption_shard_limits(cfg)
        )
    if retry_failed:
        raise ConfigError("--retry-failed: a config with a `features` section cannot retry failed downloads yet")
    from babelshard.pipelines.features.beam import ComputeFeatures

    return (
        inputs
        | "DownloadShards" >> DownloadShards(cfg.captions.download, plan)
        | "Features" >> ComputeFeatures(cfg.features)
        | "WriteShards" >> WriteShardUnits(folder, CAPTION_STREAM, plan.num_shards, digest, extra, caption_shard_limits(cfg))
    )


def add_caption_text_stages(records, cfg: JobConfig):
    """Translation and code-switching, where configured: (records, ``TranslateCaptions``' output or None)."""
    translated = None
    if cfg.translate is not None:
        from babelshard.translate.transform import TranslateCaptions

        translated = records | "Translate" >> TranslateCaptions(cfg.translate)
        records = translated["samples"]
    if cfg.codeswitch is not None:
        from babelshard.codeswitch.beam import CodeSwitchCaptions

        records = records | "Codeswitch" >> CodeSwitchCaptions(cfg.codeswitch)
    return records, translated


def writes_mt_pairs(cfg: JobConfig) -> bool:
    """Whether translations also feed the parallel shards in ``parallel-mt``. Those are
    written whole, from every caption sample, so then every record is translated and
    complete caption shards are skipped after translation, before the download;
    otherwise they are skipped before translation."""
    return cfg.translate is not None and cfg.translate.outputs.parallel


def write_mt_pairs(translated: dict, caption_index, plan, cfg: JobConfig) -> None:
    """The translation pairs of the caption samples, as one parallel shard folder."""
    pairs = {"pairs": translated["parallel"], "drops": translated["drops"]} | "PairsOfSamples" >> PairsOfSamples(
        cfg.translate, caption_folder(cfg), caption_index, plan.num_shards
    )
    pairs | "WriteTranslationPairs" >> WriteShards(
        join(cfg.output.folder, MT_PARALLEL_FOLDER),
        "parallel",
        samples_per_shard=cfg.output.samples_per_shard,
        config_hash=caption_config_hash(cfg),
        extra=index_extra(cfg, job=cfg.name, provenance="mt"),
        limits=ShardLimits(memory_bytes=cfg.output.shard_memory_bytes),
    )
