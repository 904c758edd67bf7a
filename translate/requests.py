"""Records and plain per-record functions of the translation stage (no Beam here).

A sample fans out into one :class:`TranslationRequest` per target language; requests
with the same cache key meet in one group that becomes a :class:`TranslationJob` (a
miss, sent to the engine) or a :class:`TranslatedJob` straight from the cache (a hit).
Each translated job is checked once and fans back out to the samples that asked.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping

from babelshard.records import Caption, CaptionSample, ParallelPair, stable_key
from babelshard.stats import Drop, Reason
from babelshard.textnorm import clean_text
from babelshard.translate.cache import CacheEntry, cache_key
from babelshard.translate.config import FilterConfig, TranslateConfig
from babelshard.translate.filters import check_translation, lid_predictions

STAGE = "translate"  # drop reasons: TranslateReason, filters.FilterReason, LengthReason.EMPTY, LanguageReason.MISMATCH
KEPT_HUMAN = "kept_human"  # a marker, not a drop: the sample keeps its human caption


class TranslateReason(Reason):
    EMPTY_SOURCE = "empty_source", "the sample has no source-language caption to translate"
    ENGINE_ERROR = "engine_error", "the engine raised on this text, even alone (or on its whole batch)"

Identities = Mapping[str, tuple[str, str]]  # target language -> (engine kind, model id)


@dataclass(frozen=True)
class TranslationRequest:
    """One sample's caption to translate into one language."""

    sample_key: str
    engine: str  # the engine's name in the config
    source_language: str
    target_language: str
    text: str
    cache_key: str


@dataclass(frozen=True)
class TranslationJob:
    """One distinct text for one engine and pair, with every sample that needs it."""

    cache_key: str
    engine: str
    source_language: str
    target_language: str
    text: str
    sample_keys: tuple[str, ...]


@dataclass(frozen=True)
class TranslatedJob:
    job: TranslationJob
    entry: CacheEntry
    fresh: bool  # translated in this run (False: from the persistent cache)
    split: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class FailedJob:
    """A job the engine raised on, even when retried alone."""

    job: TranslationJob
    error: str


def pair_key(sample_key: str, source: str, target: str) -> str:
    """The key of the parallel pair (and of a drop) for one sample and target language."""
    return stable_key("translate", sample_key, source, target)


def language_drop(sample_key: str, source: str, target: str, reason: Reason, detail: str = "", url: str = "") -> Drop:
    return Drop(pair_key(sample_key, source, target), STAGE, reason, f"{sample_key} {target}: {detail}".rstrip(": "), url)


def translation_requests(sample: CaptionSample, config: TranslateConfig, identities: Identities) -> list:
    """Per target: a request, :data:`KEPT_HUMAN`, or an empty-source drop."""
    source = config.source_language
    caption = sample.captions.get(source)
    text = clean_text(caption.text) if caption is not None else ""
    out: list = []
    for target, engine in sorted(config.targets.items()):
        existing = sample.captions.get(target)
        if existing is not None and existing.provenance == "human" and config.when_human_exists == "keep":
            out.append(KEPT_HUMAN)
        elif not text:
            out.append(language_drop(sample.key, source, target, TranslateReason.EMPTY_SOURCE, url=sample.url))
        else:
            kind, model = identities[target]
            key = cache_key(kind, model, source, target, text)
            out.append(TranslationRequest(sample.key, engine, source, target, text, key))
    return out


def resolve_group(key: str, requests: Iterable[TranslationRequest], cached: Iterable[CacheEntry]):
    """A cache hit (:class:`TranslatedJob`), a miss (:class:`TranslationJob`), or None (no request)."""
    requests = sorted(requests, key=lambda r: r.sample_key)
    if not requests:
        return None
    first = requests[0]
    job = TranslationJob(
        key, first.engine, first.source_language, first.target_language, first.text,
        tuple(sorted({r.sample_key for r in requests})),
    )
    entry = next(iter(cached), None)
    return TranslatedJob(job, entry, fresh=False) if entry is not None else job


def fan_out(translated: TranslatedJob, failure: tuple[str, str] | None) -> list:
    """(sample key, (language, Caption)) per sample, or a drop per sample when a check failed."""
    job, entry = translated.job, translated.entry
    if failure is not None:
        reason, detail = failure
        return [language_drop(key, job.source_language, job.target_language, reason, detail) for key in job.sample_keys]
    caption = Caption(entry.text, provenance="mt", engine=entry.engine, model=entry.model, score=entry.score)
    return [(key, (job.target_language, caption)) for key in job.sample_keys]


def check_translated(translated: TranslatedJob, settings: FilterConfig, lid_model=None) -> list:
    """The quality checks once per distinct translation (language ID with ``lid_model``
    when given), then :func:`fan_out` to the samples that asked."""
    if not settings.enabled:
        return fan_out(translated, None)
    text, job = translated.entry.text, translated.job
    predictions = lid_predictions(lid_model, text) if lid_model is not None and text.strip() else None
    failure = check_translation(
        job.text, text, job.target_language, settings,
        source_language=job.source_language, score=translated.entry.score, predictions=predictions,
    )
    return fan_out(translated, failure)


def failed_job_drops(job: TranslationJob, error: str) -> list[Drop]:
    reason = TranslateReason.ENGINE_ERROR
    return [language_drop(key, job.source_language, job.target_language, reason, error[:300]) for key in job.sample_keys]


def merge_translations(
    sample: CaptionSample, captions: Iterable[tuple[str, Caption]], config: TranslateConfig
) -> tuple[CaptionSample, list[ParallelPair]]:
    """The sample with its new captions (a replaced human caption moves to ``extra_captions``)
    and the parallel pairs made from the same translations."""
    new = dict(sorted(captions))
    if not new:
        return sample, []
    merged = dict(sample.captions)
    extra = {lang: tuple(texts) for lang, texts in sample.extra_captions.items()}
    for lang, caption in new.items():
        previous = merged.get(lang)
        if previous is not None and previous.provenance == "human":
            extra[lang] = (*extra.get(lang, ()), previous.text)
        merged[lang] = caption
    pairs = [parallel_pair(sample, lang, c, config.source_language) for lang, c in new.items()] if config.outputs.parallel else []
    if not config.outputs.captions:
        return sample, pairs
    return dataclasses.replace(sample, captions=merged, extra_captions=extra), pairs


def parallel_pair(sample: CaptionSample, target: str, caption: Caption, source: str) -> ParallelPair:
    meta = {"engine": caption.engine, "model": caption.model, "sample_key": sample.key, "provenance": "mt"}
    return ParallelPair(
        key=pair_key(sample.key, source, target),
        source_language=source,
        target_language=target,
        source_text=sample.captions[source].text,
        target_text=caption.text,
        source=sample.source,
        score=caption.score,
        meta=meta,
    )
