"""The monolingual text and parallel text streams of the build job.

``add_text_streams(pipeline, cfg)`` adds, per language, read -> clean and split ->
dedup -> language ID -> ``WriteShards`` into ``<output>/text/<lang>``; per language
pair, read -> pair filters -> dedup -> language ID of both sides -> ``WriteShards``
into ``<output>/parallel/<src>-<tgt>``; and, once every index is written,
``weights.json`` in each root (see :mod:`babelshard.shards.weights`).
"""
from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

import apache_beam as beam

from babelshard.configbase import config_hash
from babelshard.fs import join
from babelshard.pipelines.jobs.artifacts import artifact_checksums_under
from babelshard.pipelines.jobs.config import index_extra
from babelshard.pipelines.text.parallel_clean import check_pair_batch, pair_dedup_key, prepare_pair
from babelshard.pipelines.text.parallel_readers import read_moses, read_po, read_tmx, read_tsv
from babelshard.stage import ApplyBatchStage, per_record
from babelshard.pipelines.text.beam import DedupExact, Spread, language_id_stage, read_source
from babelshard.pipelines.text.clean import check_text_languages, make_t2s_converter, prepare_sentences, text_dedup_key
from babelshard.pipelines.text.readers import TEXT_READERS
from babelshard.shards.weights import write_weights
from babelshard.records import ParallelPair, TextSample
from babelshard.shards.beam import WriteShards
from babelshard.shards.bucket import ShardLimits

# format -> (reader, how read_source_file hands it the file)
PAIR_READERS = {
    "wikimatrix": (read_tsv, "lines"),
    "tsv": (read_tsv, "lines"),
    "po": (read_po, "lines"),
    "tmx": (read_tmx, "stream"),
    "moses": (read_moses, "moses"),
}


def make_converter(chinese: str):
    return make_t2s_converter() if chinese == "t2s" else None


def prepare_line(record, resources):
    clean, converter = resources
    return prepare_sentences(record, clean, converter)


def text_resources(clean):
    return clean, make_converter(clean.chinese)


def prepare_pair_stage(pair, resources):
    filters, converter = resources
    return prepare_pair(pair, filters, converter)


def pair_resources(filters):
    return filters, make_converter(filters.chinese)


class CleanedStream(beam.PTransform):
    """Shared shape of both streams: read sources, spread, prepare, dedup, language ID, write.

    Records travel in batches of ``job.batch_size`` from the read to the dedup, and one
    by one into ``WriteShards``.
    """

    def __init__(self, kind: str, sources: list, job: Any, folder: str, output: Any, extra: dict, artifacts: dict | None = None):
        super().__init__()
        self.kind, self.sources, self.job, self.folder = kind, sources, job, folder
        self.output, self.extra, self.artifacts = output, extra, artifacts or {}

    def expand(self, pbegin):
        drops, reads = [], []
        for source in self.sources:
            reader, how = (TEXT_READERS[source.format], "lines") if self.kind == "text" else PAIR_READERS[source.format]
            read = pbegin | f"Read[{source.name}]" >> read_source(source, reader, how, self.job.batch_size)
            reads.append(read.main)
            drops.append(read.drops)
        records = reads | "Sources" >> beam.Flatten() | "Spread" >> Spread()
        kept = self._clean(records, drops) | "Unbatch" >> beam.FlatMap(iter)
        # The hash covers this folder's sources only: adding a language does not rewrite the others.
        branch_hash = stream_hash(self.job.model_copy(update={"sources": list(self.sources)}), self.artifacts)
        return {"samples": kept, "drops": drops | "Drops" >> beam.Flatten()} | "Write" >> WriteShards(
            self.folder, self.kind, samples_per_shard=self.output.samples_per_shard, config_hash=branch_hash, extra=self.extra,
            limits=ShardLimits(memory_bytes=self.output.shard_memory_bytes),
        )

    def _clean(self, records, drops: list):
        text = self.kind == "text"
        settings = self.job.clean if text else self.job.filters
        prepare = prepare_line if text else prepare_pair_stage
        resources = partial(text_resources if text else pair_resources, settings)
        prepared = records | ApplyBatchStage(f"{self.kind}_prepare", per_record(prepare), resources)
        drops.append(prepared.drops)
        kept = prepared.main
        # Dedup before language ID, as CCNet does: fastText is the costly step and need
        # not run on copies. Copies share their normalised text, so they share the verdict.
        if settings.dedup:
            key_fn, record_type = (text_dedup_key, TextSample) if text else (pair_dedup_key, ParallelPair)
            dedup = DedupExact(self.kind, key_fn, record_type, self.job.dedup_buckets, self.job.batch_size)
            deduped = kept | "Dedup" >> dedup
            drops.append(deduped.drops)
            kept = deduped.main
        if self.job.lid.enabled:
            check = check_text_languages if text else check_pair_batch
            checked = kept | "LanguageId" >> language_id_stage(f"{self.kind}_lid", self.job.lid, check, self.kind)
            drops.append(checked.drops)
            kept = checked.main
        return kept


def stream_hash(job: Any, artifacts: dict[str, str]) -> str:
    """The config hash of one text or parallel folder, changed by its language-ID model's bytes."""
    if not artifacts:
        return config_hash(job)
    canonical = json.dumps({"config": config_hash(job), "artifacts": artifacts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def add_text_streams(pipeline: beam.Pipeline, cfg) -> dict[str, Any]:
    """Add the text and parallel streams of ``cfg`` (a ``JobConfig``) to ``pipeline``.

    Returns ``{"text/<lang>": index PCollection, "parallel/<src>-<tgt>": ..., "text/weights": ...}``.
    """
    outputs: dict[str, Any] = {}
    artifacts = {section: artifact_checksums_under(cfg, section) for section in ("text", "parallel")}
    if cfg.text is not None:
        make_converter(cfg.text.clean.chinese)  # a missing optional dependency fails now, not on a worker
        root = join(cfg.output.folder, "text")
        for language in cfg.text.languages:
            sources = [s for s in cfg.text.sources if s.language == language]
            extra = index_extra(cfg, language=language)
            stream = CleanedStream("text", sources, cfg.text, join(root, language), cfg.output, extra, artifacts["text"])
            outputs[f"text/{language}"] = pipeline | f"Text[{language}]" >> stream
        outputs["text/weights"] = _add_weights(pipeline, "TextWeights", root, outputs, "text/", cfg.text.alpha)
    if cfg.parallel is not None:
        make_converter(cfg.parallel.filters.chinese)
        root = join(cfg.output.folder, "parallel")
        for src, tgt in cfg.parallel.pairs:
            name = f"{src}-{tgt}"
            sources = [s for s in cfg.parallel.sources if (s.source_language, s.target_language) == (src, tgt)]
            extra = index_extra(cfg, pair=name)
            stream = CleanedStream("parallel", sources, cfg.parallel, join(root, name), cfg.output, extra, artifacts["parallel"])
            outputs[f"parallel/{name}"] = pipeline | f"Parallel[{name}]" >> stream
        outputs["parallel/weights"] = _add_weights(pipeline, "ParallelWeights", root, outputs, "parallel/", cfg.parallel.alpha)
    return outputs


def name_index(index, name: str):
    return name, index


def write_weights_step(named: list, root: str, alpha: float) -> dict:
    return write_weights(root, named, alpha)


def _add_weights(pipeline, label: str, root: str, outputs: dict, prefix: str, alpha: float):
    """``weights.json`` from the indexes of this root's folders, after all of them are written."""
    named = [
        pcoll | f"{label}Name[{key[len(prefix):]}]" >> beam.Map(name_index, key[len(prefix):])
        for key, pcoll in outputs.items()
        if key.startswith(prefix) and not key.endswith("weights")
    ]
    return (
        named
        | f"{label}Collect" >> beam.Flatten()
        | f"{label}List" >> beam.combiners.ToList()
        | f"{label}Write" >> beam.Map(write_weights_step, root, alpha)
    )
