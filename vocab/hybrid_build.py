"""Building the hybrid vocabulary from token counts and aligned word vectors.

Frequent words (count >= t, or the top k of their language) keep a language-specific
token; every other counted word of every language is placed in the shared space (its
vector normalised and aligned onto the pivot) and k-means groups them into K shared
tokens. A rare word without any vector (possible only with ``.vec`` input) maps to
``<unk>`` and is counted as such.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping

import numpy as np

from babelshard.vocab.align import AlignmentResult, Normalizer
from babelshard.vocab.config import HybridConfig
from babelshard.vocab.counts import VocabError
from babelshard.vocab.hybrid import HybridVocab, LanguageTransform
from babelshard.vocab.kmeans import kmeans
from babelshard.vocab.vectors import WordVectors


def split_frequent(counts: Counter, min_count: int | None, top_k: int | None) -> tuple[list[str], list[str]]:
    """(frequent, rare) words, each most frequent first, ties by word."""
    ordered = sorted(counts, key=lambda word: (-counts[word], word))
    if top_k is not None:
        return ordered[:top_k], ordered[top_k:]
    frequent = [word for word in ordered if counts[word] >= min_count]
    return frequent, ordered[len(frequent):]


def language_transforms(vectors: Mapping[str, WordVectors], alignments: Mapping[str, AlignmentResult],
                        pivot: str | None) -> dict[str, LanguageTransform]:
    """Per language: its normalisation and the map onto the pivot (identity for the pivot and
    for vectors given already aligned, when no alignment was run)."""
    transforms = {}
    for lang, vecs in sorted(vectors.items()):
        if lang in alignments:
            result = alignments[lang]
            transforms[lang] = LanguageTransform(result.source_normalizer.mean, result.matrix)
        elif alignments and lang != pivot:
            raise VocabError(f"{lang}: no alignment onto {pivot}; add a lexicon for it under alignment.lexicons")
        else:
            transforms[lang] = LanguageTransform(Normalizer.fit(vecs.matrix).mean, np.eye(vecs.dim, dtype=np.float32))
    return transforms


def _check_inputs(counts: Mapping[str, Counter], vectors: Mapping[str, WordVectors]) -> int:
    empty = sorted(lang for lang, counter in counts.items() if not counter)
    if not counts or empty:
        raise VocabError(f"language(s) with no tokens: {', '.join(empty) or '(none given)'}")
    missing = sorted(set(counts) - set(vectors))
    if missing:
        raise VocabError(f"no word vectors for language(s): {', '.join(missing)}")
    dims = {lang: vectors[lang].dim for lang in counts}
    if len(set(dims.values())) != 1:
        raise VocabError(f"word vectors of different dimensions: {dims}")
    return next(iter(dims.values()))


def build_hybrid(counts: Mapping[str, Counter], vectors: Mapping[str, WordVectors],
                 transforms: Mapping[str, LanguageTransform], config: HybridConfig,
                 lowercase: bool = True, include_punctuation: bool = True,
                 fasttext_paths: Mapping[str, str | None] | None = None) -> HybridVocab:
    dim = _check_inputs(counts, vectors)
    languages = tuple(sorted(counts))
    word_ids: dict[str, dict[str, int]] = {lang: {} for lang in languages}
    ranges: dict[str, tuple[int, int]] = {}
    rare: dict[str, list[str]] = {}
    next_id = len(config.special_tokens)
    for lang in languages:
        frequent, rare[lang] = split_frequent(counts[lang], config.min_count, config.top_k)
        word_ids[lang] = {word: next_id + offset for offset, word in enumerate(frequent)}
        ranges[lang] = (next_id, next_id + len(frequent))
        next_id += len(frequent)
    own_vectors = _frequent_vectors(word_ids, vectors, transforms, dim)
    points, owners = _rare_points(rare, vectors, transforms)
    if points.shape[0] < config.num_shared:
        raise VocabError(f"only {points.shape[0]} rare words with vectors for {config.num_shared} shared tokens; "
                         "lower hybrid.num_shared or raise the frequency threshold")
    result = kmeans(points, config.num_shared, config.kmeans_iterations, config.seed, config.backend)
    unk = config.special_tokens.index("<unk>")
    stats: dict[str, dict[str, int]] = {}
    for lang in languages:
        no_vector = [word for word in rare[lang] if (lang, word) not in owners]
        word_ids[lang].update((word, unk) for word in no_vector)
        stats[lang] = {"words": len(counts[lang]), "occurrences": sum(counts[lang].values()),
                       "language_specific": ranges[lang][1] - ranges[lang][0],
                       "rare": len(rare[lang]), "rare_without_vector": len(no_vector)}
    for (lang, word), row in owners.items():
        word_ids[lang][word] = next_id + int(result.assignments[row])
    meta = {"dim": dim, "lowercase": lowercase, "include_punctuation": include_punctuation,
            "min_count": config.min_count, "top_k": config.top_k, "K": config.num_shared, "languages_stats": stats,
            "kmeans": {"backend": result.backend, "iterations": config.kmeans_iterations, "seed": config.seed,
                       "inertia": result.inertia, "points": int(points.shape[0])}}
    return HybridVocab(
        special_tokens=tuple(config.special_tokens), languages=languages, word_ids=word_ids,
        word_counts={lang: dict(counts[lang]) for lang in languages}, language_ranges=ranges,
        centroids=result.centroids, transforms=dict(transforms), meta=meta,
        fasttext_paths=dict(fasttext_paths or {}), vectors=own_vectors,
    )


def _frequent_vectors(word_ids: Mapping[str, dict[str, int]], vectors: Mapping[str, WordVectors],
                      transforms: Mapping[str, LanguageTransform], dim: int) -> np.ndarray:
    """The aligned vector of every language-specific token, in token order (zeros where a
    word has none)."""
    blocks = []
    for lang in sorted(word_ids):
        words = list(word_ids[lang])  # the frequent words, in token order
        raw, found = vectors[lang].lookup(words)
        block = np.zeros((len(words), dim), np.float32)
        if found.any():
            block[found] = transforms[lang].apply(raw[found])
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)


def _rare_points(rare: Mapping[str, list[str]], vectors: Mapping[str, WordVectors],
                 transforms: Mapping[str, LanguageTransform]) -> tuple[np.ndarray, dict[tuple[str, str], int]]:
    """Aligned vectors of every rare word that has one, and (language, word) -> row."""
    blocks: list[np.ndarray] = []
    owners: dict[tuple[str, str], int] = {}
    for lang in sorted(rare):
        raw, found = vectors[lang].lookup(rare[lang])
        words = [word for word, ok in zip(rare[lang], found) if ok]
        if not words:
            continue
        base = len(owners)
        owners.update(((lang, word), base + offset) for offset, word in enumerate(words))
        blocks.append(transforms[lang].apply(raw[found]))
    dim = next(iter(vectors.values())).dim
    return (np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)), owners
