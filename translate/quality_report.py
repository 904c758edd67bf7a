"""Machine translation against human translations of the same captions: chrF (sacrebleu).

A sample contributes when its caption in ``language`` is machine-translated and a human
caption in that language exists: in ``references`` (sample key -> texts) or, by default,
in ``extra_captions[language]``, where ``when_human_exists: translate`` moves the human
caption it replaces.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from babelshard.records import CaptionSample


@dataclass(frozen=True)
class ChrfReport:
    language: str
    chrf: float | None  # corpus chrF (0-100); None when no sample had both
    pairs: int
    without_translation: int  # samples with no machine translation in the language
    without_reference: int  # translated samples with no human caption to compare with
    engines: Mapping[str, int] = field(default_factory=dict)  # "engine/model" -> pairs

    def describe(self) -> str:
        if self.chrf is None:
            return f"{self.language}: no machine-vs-human pairs ({self.without_translation} untranslated, {self.without_reference} without a human caption)"
        models = ", ".join(f"{name} ({count})" for name, count in sorted(self.engines.items()))
        return f"{self.language}: chrF {self.chrf:.1f} on {self.pairs} captions, machine ({models}) vs human"


def collect_pairs(
    samples: Iterable[CaptionSample], language: str, references: Mapping[str, Sequence[str]] | None = None
) -> tuple[list[str], list[str], Counter, int, int]:
    """(hypotheses, first references, engines, untranslated, unreferenced)."""
    hypotheses, firsts, engines = [], [], Counter()
    untranslated = unreferenced = 0
    for sample in samples:
        caption = sample.captions.get(language)
        if caption is None or caption.provenance != "mt":
            untranslated += 1
            continue
        refs = list(references.get(sample.key, ())) if references is not None else list(sample.extra_captions.get(language, ()))
        if not refs:
            unreferenced += 1
            continue
        hypotheses.append(caption.text)
        firsts.append(refs[0])
        engines[f"{caption.engine}/{caption.model}"] += 1
    return hypotheses, firsts, engines, untranslated, unreferenced


def chrf_against_human(
    samples: Iterable[CaptionSample], language: str, references: Mapping[str, Sequence[str]] | None = None
) -> ChrfReport:
    """Corpus chrF of the machine captions in ``language`` against the human ones."""
    from sacrebleu.metrics import CHRF

    hypotheses, firsts, engines, untranslated, unreferenced = collect_pairs(samples, language, references)
    score = CHRF().corpus_score(hypotheses, [firsts]).score if hypotheses else None
    return ChrfReport(language, score, len(hypotheses), untranslated, unreferenced, dict(engines))
