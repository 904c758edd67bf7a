"""Language sampling weights of a stream: explicit, q_i ∝ p_i^alpha from the index
counts (XLM / unified mVLP), or the ``weights.json`` the text job writes beside the
per-language folders (read through :mod:`babelshard.shards.weights`); and how often to
draw from each of a stream's folders.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from babelshard.configbase import ConfigError
from babelshard.shards.index import ShardIndex
from babelshard.shards.weights import find_weights_file, read_weights_file, sampling_weights, smoothed_weights


def resolve_language_weights(
    weights: Mapping[str, float] | str | None,
    alpha: float | None,
    folders: Sequence[str],
    indexes: Sequence[ShardIndex],
) -> dict[str, float] | None:
    """Explicit weights (or a weights file), else alpha-smoothed index counts, else the
    folders' weights file; ``None``: uniform."""
    if isinstance(weights, str):
        return sampling_weights(read_weights_file(weights))
    if weights is not None:
        return dict(weights)
    if alpha is not None:
        counts: dict[str, int] = {}
        for index in indexes:
            for lang, n in index.languages.items():
                counts[lang] = counts.get(lang, 0) + n
        return {lang: q for lang, (_, q) in smoothed_weights(counts, alpha).items()}
    found = find_weights_file(folders)
    return sampling_weights(read_weights_file(found)) if found else None


def folder_weights(indexes: Sequence[ShardIndex], language_weights: Mapping[str, float] | None) -> list[float]:
    """How often to draw from each folder: by its language's weight when every folder
    holds one language and weights are known, else by sample count."""
    single = [next(iter(ix.languages)) if len(ix.languages) == 1 else None for ix in indexes]
    if language_weights and all(lang is not None for lang in single):
        missing = [lang for lang in single if lang not in language_weights]
        if missing:
            raise ConfigError(f"no sampling weight for language(s) {missing}: add them to language_weights")
        raw = [float(language_weights[lang]) for lang in single]  # type: ignore[index]
    else:
        raw = [float(ix.samples) for ix in indexes]
    total = sum(raw)
    return [w / total for w in raw]
