"""``TranslateCaptions``: caption samples in, samples with machine-translated captions out.

    samples -> requests (one per target) -> group by cache key (+ persistent cache)
      -> hits | misses -> RunInference per engine (dead letter -> drops)
      -> quality checks -> fan out per sample -> merge into samples (+ parallel pairs)

The result is a dict: ``samples`` (every input sample, with its new captions),
``parallel`` (ParallelPair records, when configured) and ``drops`` (one per sample and
language that did not get a translation, keyed like the pair it would have made, so
they are the parallel stream's drops; the sample itself is never dropped here).
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference

from babelshard.langid import load_lid_model
from babelshard.stats import Drop
from babelshard.translate.cache import group_by_pair, list_cache_files, read_cache_file, write_cache_file
from babelshard.translate.config import TranslateConfig
from babelshard.translate.engines import engine_identity
from babelshard.translate.filters import check_translation, lid_predictions
from babelshard.translate.handler import NAMESPACE, TranslationModelHandler
from babelshard.translate.requests import (
    KEPT_HUMAN, FailedJob, Identities, TranslatedJob, TranslationJob, failed_job_drops, fan_out, merge_translations,
    resolve_group, translation_requests,
)

DROPS, MISSES, PARALLEL = "drops", "misses", "parallel"


def count(name: str, value: int = 1) -> None:
    Metrics.counter(NAMESPACE, name).inc(value)


def resolve_identities(config: TranslateConfig) -> dict[str, tuple[str, str]]:
    return {
        target: engine_identity(config.engines[engine], config.source_language, target)
        for target, engine in config.targets.items()
    }


class MakeRequests(beam.DoFn):
    def __init__(self, config: TranslateConfig, identities: Identities):
        self.config, self.identities = config, identities

    def process(self, sample):
        for item in translation_requests(sample, self.config, self.identities):
            if item == KEPT_HUMAN:
                count(KEPT_HUMAN)
            elif isinstance(item, Drop):
                count(f"dropped/{item.reason}")
                yield pvalue.TaggedOutput(DROPS, item)
            else:
                count("requests")
                yield (item.cache_key, item)


class ResolveGroups(beam.DoFn):
    """Duplicates meet here: one job per cache key, answered from the cache when it can be."""

    def process(self, grouped):
        key, parts = grouped
        result = resolve_group(key, parts["requests"], parts["cached"])
        if result is None:
            return
        if isinstance(result, TranslationJob):
            count("cache_misses")
            yield pvalue.TaggedOutput(MISSES, result)
        else:
            count("cache_hits")
            yield result


class CheckTranslations(beam.DoFn):
    """Quality checks once per distinct translation, then one output per sample that asked."""

    def __init__(self, config: TranslateConfig):
        self.filters = config.filters
        self.lid = None

    def setup(self):
        if self.filters.enabled and self.filters.language_id:
            self.lid = load_lid_model(self.filters.lid_model_path)

    def process(self, translated: TranslatedJob | FailedJob):
        if isinstance(translated, FailedJob):
            items = failed_job_drops(translated.job, translated.error)
        else:
            items = fan_out(translated, self.check(translated))
        for item in items:
            if isinstance(item, Drop):
                count(f"dropped/{item.reason}")
                yield pvalue.TaggedOutput(DROPS, item)
            else:
                count("captions")
                yield item


    def check(self, translated: TranslatedJob) -> tuple[str, str] | None:
        if not self.filters.enabled:
            return None
        text, job = translated.entry.text, translated.job
        predictions = lid_predictions(self.lid, text) if self.lid is not None and text.strip() else None
        return check_translation(
            job.text, text, job.target_language, self.filters,
            source_language=job.source_language, score=translated.entry.score, predictions=predictions,
        )


class MergeIntoSamples(beam.DoFn):
    def __init__(self, config: TranslateConfig):
        self.config = config

    def process(self, grouped):
        _, parts = grouped
        for sample in parts["sample"]:
            updated, pairs = merge_translations(sample, parts["captions"], self.config)
            yield updated
            for pair in pairs:
                count("parallel_pairs")
                yield pvalue.TaggedOutput(PARALLEL, pair)


def engine_failures(failed):
    """RunInference's dead letter holds (batch, error) pairs; every job in it becomes drops."""
    batch, error = failed
    message = repr(error[1]) if isinstance(error, tuple) and len(error) > 1 else repr(error)
    count("failed_batches")
    for job in batch:
        for drop in failed_job_drops(job, message):
            count(f"dropped/{drop.reason}")
            yield drop


def read_cached_entries(pipeline, config: TranslateConfig, identities: Identities):
    """(cache key, entry) for every stored translation of the configured pairs."""
    files = []
    if config.cache.url and config.cache.read:
        for target, (kind, model) in sorted(identities.items()):
            files.extend(list_cache_files(config.cache.url, kind, model, config.source_language, target))
    return (
        pipeline
        | "CacheFiles" >> beam.Create(files)
        | "ReadCache" >> beam.FlatMap(read_cache_file)
        | "KeyCache" >> beam.Map(lambda entry: (entry.key, entry))
    )


def cache_bucket(translated: TranslatedJob, buckets: int) -> tuple[tuple[str, int], object]:
    """Fresh translations of one pair spread over ``buckets`` files by cache key."""
    return (translated.entry.target_language, int(translated.job.cache_key[:8], 16) % buckets), translated.entry


def write_cache_group(item, url: str) -> list[str]:
    """Write one bucket of fresh translations; returns the files written."""
    _, entries = item
    written = [write_cache_file(url, group) for group in group_by_pair(entries)]
    count("cache_files_written", len(written))
    return written


class TranslateCaptions(beam.PTransform):
    """``samples | TranslateCaptions(config)`` -> ``{"samples", "parallel", "drops"}``."""

    def __init__(self, config: TranslateConfig, identities: Identities | None = None):
        super().__init__()
        self.config = config
        self.identities = dict(identities) if identities is not None else resolve_identities(config)

    def expand(self, samples):
        config, identities = self.config, self.identities
        requests = samples | "Requests" >> beam.ParDo(MakeRequests(config, identities)).with_outputs(DROPS, main="main")
        cached = read_cached_entries(samples.pipeline, config, identities)
        resolved = (
            {"requests": requests.main, "cached": cached}
            | "GroupByCacheKey" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(ResolveGroups()).with_outputs(MISSES, main="hits")
        )
        results, engine_drops = self._translate(resolved[MISSES])
        if config.cache.url and config.cache.write:
            _ = (
                results
                | "Fresh" >> beam.Filter(lambda t: isinstance(t, TranslatedJob))
                | "CacheBucket" >> beam.Map(cache_bucket, config.cache.files_per_pair)
                | "GroupCacheWrites" >> beam.GroupByKey()
                | "WriteCache" >> beam.FlatMap(write_cache_group, config.cache.url)
            )
        checked = (
            (resolved.hits, results)
            | "AllTranslations" >> beam.Flatten()
            | "Check" >> beam.ParDo(CheckTranslations(config)).with_outputs(DROPS, main="captions")
        )
        merged = (
            {"sample": samples | "KeySamples" >> beam.Map(lambda s: (s.key, s)), "captions": checked.captions}
            | "GroupBySample" >> beam.CoGroupByKey()
            | "Merge" >> beam.ParDo(MergeIntoSamples(config)).with_outputs(PARALLEL, main="samples")
        )
        drops = (requests[DROPS], checked[DROPS], *engine_drops) | "AllDrops" >> beam.Flatten()
        return {"samples": merged.samples, "parallel": merged[PARALLEL], "drops": drops}

    def _translate(self, misses):
        """One RunInference per engine: (translated and failed jobs, [dead-letter drops])."""
        outputs, drops = [], []
        for name in sorted(set(self.config.targets.values())):
            handler = TranslationModelHandler(name, self.config.engines[name], self.config.batching, self.identities)
            jobs = misses | f"Jobs[{name}]" >> beam.Filter(lambda job, n=name: job.engine == n)
            translated, dead_letter = jobs | f"Translate[{name}]" >> RunInference(handler).with_exception_handling()
            outputs.append(translated)
            drops.append(dead_letter.failed_inferences | f"EngineErrors[{name}]" >> beam.FlatMap(engine_failures))
        results = tuple(outputs) | "Translated" >> beam.Flatten()
        return results, drops
