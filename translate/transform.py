"""``TranslateCaptions``: caption samples in, samples with machine-translated captions out.

    samples -> requests (one per target) -> group by cache key (+ persistent cache)
      -> hits | misses -> model stage per engine (RunInference; failures -> drops)
      -> quality checks (language ID: a model stage) -> fan out per sample
      -> merge into samples (+ parallel pairs)

Every step is a stage of :mod:`babelshard.stage` / :mod:`babelshard.inference` in the
``translate`` namespace. The result is a dict: ``samples`` (every input sample, with its
new captions), ``parallel`` (ParallelPair records, when configured) and ``drops`` (one
per sample and language that did not get a translation, keyed like the pair it would
have made, so they are the parallel stream's drops; the sample itself is never dropped
here).
"""
from __future__ import annotations

import operator
from functools import partial
from typing import Iterable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from babelshard.inference import ModelStage, lid_handler
from babelshard.records import Caption, CaptionSample
from babelshard.stage import ApplyStage, GroupStage
from babelshard.stats import Drop, StageReason
from babelshard.translate.cache import CacheEntry, group_by_pair, list_cache_files, read_cache_file, write_cache_file
from babelshard.translate.config import FilterConfig, TranslateConfig
from babelshard.translate.engines import engine_identity
from babelshard.translate.handler import NAMESPACE, TranslationModelHandler
from babelshard.translate.requests import (
    KEPT_HUMAN, STAGE, Identities, TranslatedJob, TranslationJob, TranslationRequest, check_translated,
    failed_job_drops, language_drop, merge_translations, resolve_group, translation_requests,
)

MISSES, PARALLEL = "misses", "parallel"


def count(name: str, value: int = 1) -> None:
    Metrics.counter(NAMESPACE, name).inc(value)


def resolve_identities(config: TranslateConfig) -> dict[str, tuple[str, str]]:
    return {
        target: engine_identity(config.engines[engine], config.source_language, target)
        for target, engine in config.targets.items()
    }


def make_requests(sample: CaptionSample, config: TranslateConfig, identities: Identities) -> list:
    """A sample's translation requests and empty-source drops; kept human captions counted."""
    items = translation_requests(sample, config, identities)
    kept = [item for item in items if item != KEPT_HUMAN]
    if len(kept) < len(items):
        count(KEPT_HUMAN, len(items) - len(kept))
    count("requests", sum(isinstance(item, TranslationRequest) for item in kept))
    return kept


def resolve_requests(key: str, requests: Iterable[TranslationRequest], cached: Iterable[CacheEntry]) -> list:
    """Duplicates meet here: one job per cache key, a hit from the cache or a miss for an engine."""
    result = resolve_group(key, requests, cached)
    if result is None:
        return []
    if isinstance(result, TranslationJob):
        count("cache_misses")
        return [pvalue.TaggedOutput(MISSES, result)]
    count("cache_hits")
    return [result]


def check_batch(batch: list[TranslatedJob], lid_model, settings: FilterConfig) -> list[list]:
    """The quality checks of a batch of translations, language ID with ``lid_model``."""
    return [check_translated(translated, settings, lid_model) for translated in batch]


def check_failure_drops(translated: TranslatedJob, message: str) -> list[Drop]:
    job = translated.job
    return [
        language_drop(key, job.source_language, job.target_language, StageReason.MODEL_ERROR, message[:300])
        for key in job.sample_keys
    ]


def check_stage(settings: FilterConfig) -> ApplyStage | ModelStage:
    """The quality checks: a model stage when they include language ID."""
    if not settings.lid.enabled:
        return ApplyStage(STAGE, partial(check_translated, settings=settings))
    handler = lid_handler(STAGE, settings.lid, partial(check_batch, settings=settings))
    return ModelStage(STAGE, handler, check_failure_drops)


def merge_sample(_key: str, samples: Iterable[CaptionSample], captions: Iterable[tuple[str, Caption]],
                 config: TranslateConfig) -> list:
    """The sample with its new captions, and its parallel pairs on the ``parallel`` output."""
    out: list = []
    captions = list(captions)
    for sample in samples:
        updated, pairs = merge_translations(sample, captions, config)
        out.append(updated)
        if pairs:
            count("parallel_pairs", len(pairs))
        out.extend(pvalue.TaggedOutput(PARALLEL, pair) for pair in pairs)
    return out


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
        requests = samples | "Requests" >> ApplyStage(STAGE, partial(make_requests, config=config, identities=identities))
        cached = read_cached_entries(samples.pipeline, config, identities)
        resolved = requests.main | "Resolve" >> GroupStage(
            STAGE, resolve_requests, key=operator.attrgetter("cache_key"), join={"cached": cached}, outputs=(MISSES,)
        )
        translated, engine_drops = self._translate(resolved[MISSES])
        if config.cache.url and config.cache.write:
            _ = (
                translated
                | "CacheBucket" >> beam.Map(cache_bucket, config.cache.files_per_pair)
                | "GroupCacheWrites" >> beam.GroupByKey()
                | "WriteCache" >> beam.FlatMap(write_cache_group, config.cache.url)
            )
        all_translations = (resolved.main, translated) | "AllTranslations" >> beam.Flatten()
        checked = all_translations | "Check" >> check_stage(config.filters)
        merged = samples | "Merge" >> GroupStage(
            STAGE, partial(merge_sample, config=config), key=operator.attrgetter("key"),
            join={"captions": checked.main}, outputs=(PARALLEL,),
        )
        drops = (requests.drops, resolved.drops, checked.drops, merged.drops, *engine_drops) | "AllDrops" >> beam.Flatten()
        return {"samples": merged.main, "parallel": merged[PARALLEL], "drops": drops}

    def _translate(self, misses):
        """One model stage per engine: (translated jobs, [drops of failed jobs and batches])."""
        outputs, drops = [], []
        for name in sorted(set(self.config.targets.values())):
            handler = TranslationModelHandler(name, self.config.engines[name], self.config.batching, self.identities)
            jobs = misses | f"Jobs[{name}]" >> beam.Filter(lambda job, n=name: job.engine == n)
            translated = jobs | f"Translate[{name}]" >> ModelStage(STAGE, handler, failed_job_drops)
            outputs.append(translated.main)
            drops.append(translated.drops)
        results = tuple(outputs) | "Translated" >> beam.Flatten()
        return results, drops
