"""Caption cleaning and deduplication: plain functions, each drop with an enumerated
reason, and the stages that run them in Beam. The language check, a model stage, is in
:mod:`babelshard.pipelines.captions.language`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterable

from babelshard.pipelines.captions.config import CleaningConfig
from babelshard.records import CaptionSample
from babelshard.stage import ApplyStage, GroupStage
from babelshard.stats import Drop, reason_enum
from babelshard.textnorm import clean_text, count_words, length_problem

CLEAN_STAGE = "clean"  # drop reasons: babelshard.textnorm.LengthReason
DEDUP_STAGE = "dedup"
CAPTION_LANGUAGE = "en"  # the ``txt`` caption every sample has


DedupReason = reason_enum("DedupReason", __name__)


def clean_caption(record: CaptionSample, settings: CleaningConfig) -> CaptionSample | Drop:
    """NFC, control and zero-width characters out, whitespace collapsed; length bounds
    on the English caption. Other languages that clean to nothing are left out."""
    captions = {}
    for lang, caption in record.captions.items():
        text = clean_text(caption.text)
        if text:
            captions[lang] = dataclasses.replace(caption, text=text)
    english = captions.get(CAPTION_LANGUAGE)
    text = english.text if english is not None else ""
    problem = length_problem(text, settings.lengths)
    if problem is not None:
        detail = f"{len(text)} chars, {count_words(text)} words" if text else ""
        return Drop(record.key, CLEAN_STAGE, problem, detail=detail, url=record.url)
    extra = {}
    for lang, texts in record.extra_captions.items():
        cleaned = tuple(text for text in (clean_text(t) for t in texts) if text)
        if cleaned:
            extra[lang] = cleaned
    return dataclasses.replace(record, url=record.url.strip(), captions=captions, extra_captions=extra)


def _order(record: CaptionSample) -> tuple:
    return (record.caption, record.source, record.key, sorted((k, v.text) for k, v in record.captions.items()))


def resolve_duplicates(records: Iterable[CaptionSample]) -> list[CaptionSample | Drop]:
    """Records sharing a URL: the first by (caption, source, key) is kept, whatever the
    input order; each other one is a drop naming the key it lost to."""
    ordered = sorted(records, key=_order)
    kept = ordered[0]
    results: list[CaptionSample | Drop] = [kept]
    for record in ordered[1:]:
        reason = DedupReason.DUPLICATE_PAIR if record.caption == kept.caption else DedupReason.DUPLICATE_URL
        results.append(Drop(record.key, DEDUP_STAGE, reason, detail=f"kept {kept.key}", url=record.url))
    return results


def resolve_group(_key: str, records: Iterable[CaptionSample]) -> list[CaptionSample | Drop]:
    return resolve_duplicates(records)


def dedup_group(record: CaptionSample, by_url: bool) -> str:
    """What makes two records duplicates: the URL, or with dedup off the key (a shard
    cannot hold one key twice)."""
    return record.url if by_url else record.key


class DedupCaptions(GroupStage):
    """Exact dedup of URLs (and so of (URL, caption) pairs); outputs ``.main`` and ``.drops``."""

    def __init__(self, by_url: bool = True):
        super().__init__(DEDUP_STAGE, resolve_group, key=functools.partial(dedup_group, by_url=by_url))


def clean_stage(settings: CleaningConfig) -> ApplyStage:
    return ApplyStage(CLEAN_STAGE, functools.partial(clean_caption, settings=settings))
