"""Beam stage: K code-switched variants per caption into ``CaptionSample.codeswitched``.

``samples | CodeSwitchCaptions(cfg)`` is a model stage (:mod:`babelshard.inference`)
around :func:`switch_caption`, with the lexicon as the model: RunInference loads it
once per worker process and hands it batches of samples. The variants that switched at
least one word are stored (``cs.json``: ``[{"variant", "text", "tokens", "langs"},
...]``); a caption is never dropped here, so a failure is a bug and fails the run.

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
from babelshard.codeswitch.loading import load_lexicon, switch_params
from babelshard.codeswitch.transform import SwitchParams, code_switch_variants, coverage
from babelshard.inference import ModelStage, StageModelHandler
from babelshard.records import CaptionSample
from babelshard.stage import per_record

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
    """The stage's model: the lexicon, the switch parameters and the counters."""
    return CodeSwitchResources(load_lexicon(cfg), switch_params(cfg), cfg.variants, namespace)


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
        load = functools.partial(make_resources, self.cfg, self.name)
        handler = StageModelHandler(self.name, load, per_record(switch_caption))
        return (samples | ModelStage(self.name, handler, dead_letter=False)).main


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
