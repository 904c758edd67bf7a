"""Language sampling weights: q_i ∝ p_i^alpha (XLM / unified mVLP), or a weights file.

The text-stream job writes its smoothed weights as ``weights.json`` beside the index;
this module reads that file in any of the shapes ``{"q": {...}}``, ``{"weights":
{...}}``, ``{"languages": {lang: {"q": ...}}}`` or a plain ``{lang: weight}``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from babelshard.fs import exists, join, read_text
from babelshard.shards.index import ShardIndex

WEIGHTS_NAME = "weights.json"


def smoothed_weights(counts: Mapping[str, int], alpha: float) -> dict[str, float]:
    """q_i = p_i^alpha / sum_j p_j^alpha with p_i = n_i / sum_j n_j (zero counts dropped)."""
    total = sum(n for n in counts.values() if n > 0)
    if total == 0:
        raise ValueError("no language has any samples")
    raw = {lang: (n / total) ** alpha for lang, n in counts.items() if n > 0}
    norm = sum(raw.values())
    return {lang: value / norm for lang, value in sorted(raw.items())}


def parse_weights(data: Any, where: str) -> dict[str, float]:
    if isinstance(data, dict):
        for key in ("q", "weights"):
            if isinstance(data.get(key), dict):
                return parse_weights(data[key], where)
        if isinstance(data.get("languages"), dict):
            nested = data["languages"]
            if all(isinstance(v, dict) and "q" in v for v in nested.values()):
                return {lang: float(v["q"]) for lang, v in nested.items()}
        if data and all(isinstance(v, (int, float)) for v in data.values()):
            return {str(lang): float(v) for lang, v in data.items()}
    raise ValueError(f"{where}: not a language weights file (expected {{language: weight}})")


def read_weights_file(path: str) -> dict[str, float]:
    return parse_weights(json.loads(read_text(path)), path)


def find_weights_file(folders: Sequence[str]) -> str | None:
    """``weights.json`` in a stream's folder or in the parent of its per-language folders."""
    candidates = [join(f, WEIGHTS_NAME) for f in folders]
    candidates += [join(f.rstrip("/").rsplit("/", 1)[0], WEIGHTS_NAME) for f in folders if "/" in f.rstrip("/")]
    for path in candidates:
        if exists(path):
            return path
    return None


def resolve_language_weights(
    weights: Mapping[str, float] | str | None,
    alpha: float | None,
    folders: Sequence[str],
    indexes: Sequence[ShardIndex],
) -> dict[str, float] | None:
    """Explicit weights, else alpha-smoothed index counts, else a weights file; ``None``: uniform."""
    if isinstance(weights, str):
        return read_weights_file(weights)
    if weights is not None:
        return dict(weights)
    if alpha is not None:
        counts: dict[str, int] = {}
        for index in indexes:
            for lang, n in index.languages.items():
                counts[lang] = counts.get(lang, 0) + n
        return smoothed_weights(counts, alpha)
    found = find_weights_file(folders)
    return read_weights_file(found) if found else None


def folder_weights(indexes: Sequence[ShardIndex], language_weights: Mapping[str, float] | None) -> list[float]:
    """How often to draw from each folder: by its language's weight when every folder
    holds one language and weights are known, else by sample count."""
    single = [next(iter(ix.languages)) if len(ix.languages) == 1 else None for ix in indexes]
    if language_weights and all(lang is not None for lang in single):
        missing = [lang for lang in single if lang not in language_weights]
        if missing:
            raise ValueError(f"no sampling weight for language(s) {missing}")
        raw = [float(language_weights[lang]) for lang in single]  # type: ignore[index]
    else:
        raw = [float(ix.samples) for ix in indexes]
    total = sum(raw)
    return [w / total for w in raw]
