"""Beam stage: K code-switched variants per caption into ``CaptionSample.codeswitched``.

``samples | CodeSwitchCaptions(cfg)`` is an :class:`~babelshard.stage.ApplyStage`
around :func:`switch_caption`; the lexicon loads once per worker process in
``setup()``. The variants that switched at least one word are stored (``cs.json``:
``[{"variant", "text", "tokens", "langs"}, ...]``); a caption is never dropped here.

Counters (namespace = the stage name): ``words``, ``covered_words/<lang>`` (English
word tokens that had a translation into <lang>: coverage = covered / words),
``switched_tokens/<lang>``, ``variants_selected``, ``variants_written``,
``variants_unchanged`` and ``skipped/no_source_caption``.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from babelshard.codeswitch.config import CodeSwitchConfig
from babelshard.codeswitch.lexicon import Lexicon
from babelshard.codeswitch.loading import cached_lexicon, switch_params
from babelshard.codeswitch.transform import SwitchParams, code_switch_variants, coverage
from babelshard.stage import ApplyStage
from babelshard.records import CaptionSample

STAGE = "codeswitch"


@dataclass
class CodeSwitchResources:
    lexicon: Lexicon
    params: SwitchParams
    variants: int
    namespace: str = STAGE
    counters: dict = dataclasses.field(default_factory=dict)

    def count(self, name: str, value: int = 1) -> None:
        counter = self.counters.get(name)
        if counter is None:
            counter = self.counters[name] = Metrics.counter(self.namespace, name)
        counter.inc(value)


def make_resources(cfg: CodeSwitchConfig, namespace: str = STAGE) -> CodeSwitchResources:
    return CodeSwitchResources(cached_lexicon(cfg), switch_params(cfg), cfg.variants, namespace)


def switch_caption(record: CaptionSample, resources: CodeSwitchResources) -> CaptionSample:
    """The record with its code-switched variants; unchanged when it has no source caption."""
    caption = record.captions.get(resources.lexicon.source_language)
    if caption is None or not caption.text.strip():
        resources.count("skipped/no_source_caption")
        return record
    words, covered = coverage(caption.text, resources.lexicon)
    resources.count("words", words)
    for lang, count in covered.items():
        resources.count(f"covered_words/{lang}", count)
    variants = code_switch_variants(caption.text, record.key, resources.variants, resources.lexicon, resources.params)
    kept = [v for v in variants if v.switched]
    resources.count("variants_selected", len(variants))
    resources.count("variants_written", len(kept))
    resources.count("variants_unchanged", len(variants) - len(kept))
    for variant in kept:
        for lang in variant.langs:
            if lang != resources.lexicon.source_language:
                resources.count(f"switched_tokens/{lang}")
    return dataclasses.replace(record, codeswitched=tuple(v.as_variant() for v in kept))


class CodeSwitchCaptions(beam.PTransform):
    """``CaptionSample`` PCollection -> the same samples with ``codeswitched`` filled in."""

    def __init__(self, cfg: CodeSwitchConfig, name: str = STAGE):
        super().__init__(label=name)
        self.cfg, self.name = cfg, name

    def expand(self, samples):
        stage = ApplyStage(self.name, switch_caption, functools.partial(make_resources, self.cfg, self.name))
        return (samples | stage).main


def coverage_from_metrics(results: Any, namespace: str = STAGE) -> dict[str, float]:
    """``{lang: share of English words with a translation}`` from a pipeline's metric results."""
    totals: dict[str, int] = {}
    for result in results.query()["counters"]:
        if result.key.metric.namespace == namespace:
            name = result.key.metric.name
            totals[name] = totals.get(name, 0) + int(result.committed or result.attempted or 0)
    words = totals.get("words", 0)
    prefix = "covered_words/"
    return {name[len(prefix):]: count / words for name, count in sorted(totals.items()) if name.startswith(prefix) and words}
