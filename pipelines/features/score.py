"""The CLIP-score filter's plain functions: cosine, the drop rule per language, the
histogram counters of the shard stats, and the model stages' drop reasons.

A shard's scores are judged together: ``threshold`` keeps a caption whose cosine is at
least the language's threshold; ``keep_fraction`` keeps the best ``ceil(f * n)`` of the
shard's ``n`` captions in that language (every caption tied with the last one kept), so
the rule needs no pass over the whole data set and a resumed run judges each shard as
the first run did.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from babelshard.pipelines.features.config import ClipScoreConfig
from babelshard.stats import reason_enum

STAGE = "features"
HISTOGRAM = "clip_score/hist"
REMOVED = "clip_score/removed"


FeatureReason = reason_enum("FeatureReason", __name__)


def cosine(images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, d) arrays, in float64."""
    a = np.asarray(images, np.float64)
    b = np.asarray(texts, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)


def language_cutoff(scores: Iterable[float], settings: ClipScoreConfig, lang: str) -> float | None:
    """The lowest score kept in ``lang`` for this shard's ``scores``, or None (no rule)."""
    if lang in settings.threshold:
        return float(settings.threshold[lang])
    fraction = settings.keep_fraction.get(lang)
    ordered = sorted(scores, reverse=True)
    if fraction is None or not ordered:
        return None
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def cutoffs(scores: Mapping[str, Mapping[str, float]], settings: ClipScoreConfig) -> dict[str, float]:
    """Per language, the lowest score kept, from ``scores``: key -> language -> score."""
    found: dict[str, float] = {}
    for lang in settings.languages:
        cutoff = language_cutoff((s[lang] for s in scores.values() if lang in s), settings, lang)
        if cutoff is not None:
            found[lang] = cutoff
    return found


def failing_languages(scores: Mapping[str, float], limits: Mapping[str, float]) -> list[str]:
    return sorted(lang for lang, score in scores.items() if lang in limits and score < limits[lang])


def histogram_bin(score: float, step: float) -> str:
    """The label of the bin holding ``score``: its lower edge, e.g. ``0.250``."""
    low = math.floor(score / step + 1e-9) * step
    return f"{low + 0.0:.3f}"


def histogram_counters(scores: Mapping[str, Mapping[str, float]], step: float) -> dict[str, int]:
    """``clip_score/hist/<lang>/<bin>`` -> captions scored in that bin (before the rule)."""
    counts: dict[str, int] = {}
    for per_language in scores.values():
        for lang, score in per_language.items():
            name = f"{HISTOGRAM}/{lang}/{histogram_bin(score, step)}"
            counts[name] = counts.get(name, 0) + 1
    return counts


def histogram(counters: Mapping[str, int], lang: str) -> list[tuple[float, int]]:
    """A language's histogram from stats counters: (bin lower edge, count), by edge."""
    prefix = f"{HISTOGRAM}/{lang}/"
    return sorted((float(name[len(prefix):]), int(count)) for name, count in counters.items() if name.startswith(prefix))


def histogram_languages(counters: Mapping[str, int]) -> list[str]:
    prefix = f"{HISTOGRAM}/"
    return sorted({name[len(prefix):].split("/", 1)[0] for name in counters if name.startswith(prefix)})
