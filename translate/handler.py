"""The translation model stage's handler: one engine per process (or per machine), batches of jobs.

The engine is created in ``load_model`` on the worker, never pickled. A batch may mix
language pairs; each pair goes to the engine as one call, and a call that raises is
retried text by text so only the inputs that fail become :class:`FailedJob` values and
then ``engine_error`` drops (a batch that fails as a whole goes to RunInference's dead
letter, and its jobs to the same drops). Beam's RunInference adds its own latency and
batch-size metrics; this handler counts sentences, tokens and split/truncated inputs
per engine under the ``translate`` namespace.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Sequence

from apache_beam.metrics import Metrics

from babelshard.inference import StageModelHandler
from babelshard.translate.cache import entry_from
from babelshard.translate.config import BatchingConfig, EngineConfig
from babelshard.translate.engines import TranslationEngine, create_engine
from babelshard.translate.requests import (
    STAGE, FailedJob, Identities, TranslatedJob, TranslationJob, failed_job_drops,
)

NAMESPACE = "translate"


def translate_texts(engine: TranslationEngine, texts: Sequence[str], source: str, target: str) -> list:
    """The engine's translations; when a call raises, each text is retried alone, so one
    bad input (or an unsupported pair) fails alone, as an error message in its place."""
    try:
        return engine.translate(texts, source, target)
    except Exception as error:  # noqa: BLE001 - any engine failure becomes a counted drop
        if len(texts) == 1:
            return [f"{type(error).__name__}: {error}"]
        Metrics.counter(NAMESPACE, "batch_retried_one_by_one").inc()
        return [translate_texts(engine, [text], source, target)[0] for text in texts]


def translate_jobs(engine: TranslationEngine, jobs: Sequence[TranslationJob], identities: Identities) -> list:
    """Translate a batch of jobs, one engine call per language pair; results in input
    order, each a :class:`TranslatedJob` or a :class:`FailedJob`."""
    by_pair: dict[tuple[str, str], list[int]] = {}
    for index, job in enumerate(jobs):
        by_pair.setdefault((job.source_language, job.target_language), []).append(index)
    results: list = [None] * len(jobs)
    for (source, target), indices in sorted(by_pair.items()):
        translations = translate_texts(engine, [jobs[i].text for i in indices], source, target)
        kind, model = identities[target]
        for index, result in zip(indices, translations):
            job = jobs[index]
            if isinstance(result, str):
                results[index] = FailedJob(job, result)
                continue
            entry = entry_from(job.cache_key, job.text, result, kind, model, source, target)
            results[index] = TranslatedJob(job, entry, fresh=True, split=result.split, truncated=result.truncated)
            count_translation(job.engine, result)
    return results


def count_translation(engine: str, result) -> None:
    Metrics.counter(NAMESPACE, f"sentences/{engine}").inc()
    Metrics.counter(NAMESPACE, f"source_tokens/{engine}").inc(result.source_tokens)
    Metrics.counter(NAMESPACE, f"target_tokens/{engine}").inc(result.target_tokens)
    if result.split:
        Metrics.counter(NAMESPACE, "inputs_split").inc()
    if result.truncated:
        Metrics.counter(NAMESPACE, "inputs_truncated").inc()


def translate_batch(jobs: Sequence[TranslationJob], engine: TranslationEngine, identities: Identities, name: str) -> list:
    """Per job its :class:`TranslatedJob`, or the ``engine_error`` drops of its samples."""
    started = time.perf_counter()
    results = translate_jobs(engine, jobs, identities)
    Metrics.distribution(NAMESPACE, f"batch_sentences/{name}").update(len(jobs))
    Metrics.distribution(NAMESPACE, f"batch_latency_ms/{name}").update(int((time.perf_counter() - started) * 1000))
    return [failed_job_drops(r.job, r.error) if isinstance(r, FailedJob) else r for r in results]


class TranslationModelHandler(StageModelHandler):
    """``ModelStage("translate", TranslationModelHandler(name, engine_config, batching, identities))``."""

    def __init__(self, name: str, engine: EngineConfig, batching: BatchingConfig, identities: Identities):
        super().__init__(
            STAGE,
            partial(create_engine, engine),
            partial(translate_batch, identities=dict(identities), name=name),
            min_batch_size=batching.min_batch_size,
            max_batch_size=batching.max_batch_size,
            max_batch_duration_secs=batching.max_batch_duration_secs,
            large_model=batching.share_model_per_machine,
            model_copies=batching.model_copies,
        )
        self.engine_name = name

    def get_num_bytes(self, batch: Sequence[TranslationJob]) -> int:
        return sum(len(job.text.encode("utf-8")) for job in batch)

    def get_metrics_namespace(self) -> str:
        return f"{NAMESPACE}/{self.engine_name}"
