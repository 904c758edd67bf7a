"""The caption language check: fastText's verdict on each English caption, run as a
model stage. A module of its own because a model stage imports Beam's ML package (and
torch, when installed): only jobs whose config has ``captions.cleaning.language_check``
import it, so a caption job without one starts its launcher and workers without them.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from babelshard.inference import ModelStage, lid_handler, record_failure_drops
from babelshard.langid import LanguageIdConfig, language_verdict, predict_in_chunks
from babelshard.pipelines.captions.cleaning import CAPTION_LANGUAGE
from babelshard.records import CaptionSample
from babelshard.stage import ApplyStage
from babelshard.stats import Drop

LANGUAGE_STAGE = "language"  # drop reasons: babelshard.langid.LanguageReason, babelshard.stats.StageReason (model_error)


def check_language(record: CaptionSample, prediction: tuple[str, float], settings: LanguageIdConfig) -> CaptionSample | Drop:
    """fastText's verdict on the English caption; the language and score go into the json."""
    reason = language_verdict(CAPTION_LANGUAGE, prediction, settings)
    language, score = prediction
    if reason is not None:
        return Drop(record.key, LANGUAGE_STAGE, reason, detail=f"{language} {score:.3f}", url=record.url)
    meta = {**record.meta, "langid": {"language": language, "score": round(score, 4)}}
    return dataclasses.replace(record, meta=meta)


def check_languages(records: list[CaptionSample], model: Any, settings: LanguageIdConfig) -> list[CaptionSample | Drop]:
    """:func:`check_language` over a batch, fastText called on ``settings.max_batch_size`` captions at a time."""
    predictions = predict_in_chunks(model, [record.caption for record in records], settings.max_batch_size)
    return [check_language(record, prediction, settings) for record, prediction in zip(records, predictions)]


def language_failure_drops(record: CaptionSample, message: str) -> list[Drop]:
    return [dataclasses.replace(drop, url=record.url) for drop in record_failure_drops(LANGUAGE_STAGE, record, message)]


def keep(record: CaptionSample) -> CaptionSample:
    return record


def language_check_stage(settings: LanguageIdConfig) -> ModelStage | ApplyStage:
    """The language check as a model stage (a pass-through stage when ``enabled`` is off)."""
    if not settings.enabled:
        return ApplyStage(LANGUAGE_STAGE, keep)
    predict = functools.partial(check_languages, settings=settings)
    return ModelStage(LANGUAGE_STAGE, lid_handler(LANGUAGE_STAGE, settings, predict), language_failure_drops)
