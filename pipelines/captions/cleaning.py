"""Caption cleaning, deduplication and the language check: plain functions, each
drop with an enumerated reason, and thin Beam wrappers.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from babelshard.langid import load_lid_model, predict_language
from babelshard.pipelines.captions.config import CleaningConfig, LanguageCheckConfig
from babelshard.stage import DROPS, ApplyStage
from babelshard.records import CaptionSample
from babelshard.stats import Drop
from babelshard.textnorm import clean_text, is_word, tokenize_words

CLEAN_STAGE = "clean"
DEDUP_STAGE = "dedup"
LANGUAGE_STAGE = "language"
EMPTY_CAPTION = "empty_caption"
TOO_SHORT = "caption_too_short"
TOO_LONG = "caption_too_long"
DUPLICATE_PAIR = "duplicate_pair"  # same URL and same caption as the kept record
DUPLICATE_URL = "duplicate_url"  # same URL, another caption
WRONG_LANGUAGE = "wrong_language"
REASONS = (EMPTY_CAPTION, TOO_SHORT, TOO_LONG, DUPLICATE_PAIR, DUPLICATE_URL, WRONG_LANGUAGE)


def length_problem(text: str, settings: CleaningConfig) -> tuple[str, str] | None:
    """The reason and detail if ``text`` is outside the configured bounds."""
    words = sum(1 for token in tokenize_words(text) if is_word(token))
    if len(text) < settings.min_chars or words < settings.min_words:
        return TOO_SHORT, f"{len(text)} chars, {words} words"
    if len(text) > settings.max_chars or words > settings.max_words:
        return TOO_LONG, f"{len(text)} chars, {words} words"
    return None


def clean_caption(record: CaptionSample, settings: CleaningConfig) -> CaptionSample | Drop:
    """NFC, control and zero-width characters out, whitespace collapsed; length bounds
    on the English caption. Other languages that clean to nothing are left out."""
    captions = {}
    for lang, caption in record.captions.items():
        text = clean_text(caption.text)
        if text:
            captions[lang] = dataclasses.replace(caption, text=text)
    english = captions.get("en")
    if english is None:
        return Drop(record.key, CLEAN_STAGE, EMPTY_CAPTION, url=record.url)
    problem = length_problem(english.text, settings)
    if problem is not None:
        return Drop(record.key, CLEAN_STAGE, problem[0], detail=problem[1], url=record.url)
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
        reason = DUPLICATE_PAIR if record.caption == kept.caption else DUPLICATE_URL
        results.append(Drop(record.key, DEDUP_STAGE, reason, detail=f"kept {kept.key}", url=record.url))
    return results


class DedupDoFn(beam.DoFn):
    def __init__(self):
        self.duplicates = Metrics.counter(DEDUP_STAGE, "dropped")

    def process(self, element):
        _, records = element
        for item in resolve_duplicates(records):
            if isinstance(item, Drop):
                self.duplicates.inc()
                Metrics.counter(DEDUP_STAGE, f"dropped/{item.reason}").inc()
                yield pvalue.TaggedOutput(DROPS, item)
            else:
                yield item


def dedup_group(record: CaptionSample, by_url: bool) -> str:
    """What makes two records duplicates: the URL, or with dedup off the key (a shard
    cannot hold one key twice)."""
    return record.url if by_url else record.key


class DedupCaptions(beam.PTransform):
    """Exact dedup of URLs (and so of (URL, caption) pairs); outputs ``.main`` and ``.drops``."""

    def __init__(self, by_url: bool = True):
        super().__init__()
        self.by_url = by_url

    def expand(self, records):
        return (
            records
            | "ByUrl" >> beam.Map(lambda record, by_url: (dedup_group(record, by_url), record), self.by_url)
            | "Group" >> beam.GroupByKey()
            | "Resolve" >> beam.ParDo(DedupDoFn()).with_outputs(DROPS, main="main")
        )


def check_language(record: CaptionSample, model, settings: LanguageCheckConfig) -> CaptionSample | Drop:
    """fastText language ID on the English caption; the result goes into the json."""
    language, score = predict_language(model, record.caption)
    if language != settings.expected or score < settings.min_score:
        return Drop(record.key, LANGUAGE_STAGE, WRONG_LANGUAGE, detail=f"{language} {score:.3f}", url=record.url)
    meta = {**record.meta, "langid": {"language": language, "score": round(score, 4)}}
    return dataclasses.replace(record, meta=meta)


def language_check_stage(settings: LanguageCheckConfig) -> ApplyStage:
    fn = functools.partial(check_language, settings=settings)
    return ApplyStage(LANGUAGE_STAGE, fn, functools.partial(load_lid_model, settings.model_path))


def clean_stage(settings: CleaningConfig) -> ApplyStage:
    return ApplyStage(CLEAN_STAGE, functools.partial(clean_caption, settings=settings))
