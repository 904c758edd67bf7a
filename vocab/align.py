"""Cross-lingual alignment: orthogonal Procrustes of one language's vectors onto the pivot's.

Vectors are normalised (unit length, centred, unit length), a lexicon's pairs are split
by source word into training and held-out words, W = argmin ||X W - Y|| over orthogonal
W (Procrustes: W = U V^T from the SVD of X^T Y), and optional rounds refine W with the
mutual CSLS nearest neighbours among frequent words. Precision@1 is measured on the
held-out words, by plain nearest neighbour and by CSLS.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from babelshard.vocab.config import AlignmentConfig
from babelshard.vocab.counts import VocabError
from babelshard.vocab.vectors import WordVectors

BATCH = 2048  # rows per similarity block: 2048 x 20000 floats = 160 MB


@dataclass(frozen=True)
class Normalizer:
    """Unit length, minus the language's mean, unit length: the same for trained and unseen words."""

    mean: np.ndarray

    @classmethod
    def fit(cls, matrix: np.ndarray) -> "Normalizer":
        return cls(mean=_unit(matrix).mean(axis=0).astype(np.float32))

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        return _unit(_unit(matrix) - self.mean)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal W minimising ||source W - target||_F."""
    if source.shape != target.shape or source.ndim != 2:
        raise VocabError(f"Procrustes needs paired rows of one dimension, got {source.shape} and {target.shape}")
    left, _, right = np.linalg.svd(source.T.astype(np.float64) @ target.astype(np.float64))
    return (left @ right).astype(np.float32)


def mean_top_similarity(queries: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """For each query, the mean cosine of its k most similar keys (CSLS's neighbourhood density)."""
    k = min(k, keys.shape[0])
    out = np.empty(queries.shape[0], dtype=np.float32)
    for start in range(0, queries.shape[0], BATCH):
        sims = queries[start:start + BATCH] @ keys.T
        out[start:start + BATCH] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


def nearest(queries: np.ndarray, keys: np.ndarray, csls_k: int | None = None,
            query_density: np.ndarray | None = None, key_density: np.ndarray | None = None) -> np.ndarray:
    """Index of each query's nearest key by cosine, or by CSLS = 2 cos - r_keys(q) - r_queries(k)."""
    if csls_k is not None and key_density is None:
        key_density = mean_top_similarity(keys, queries, csls_k)
    best = np.empty(queries.shape[0], dtype=np.int64)
    for start in range(0, queries.shape[0], BATCH):
        sims = queries[start:start + BATCH] @ keys.T
        if csls_k is not None:
            sims = 2 * sims - key_density[None, :]  # r_keys(q) is constant per row: no effect on argmax
        best[start:start + BATCH] = sims.argmax(axis=1)
    return best


@dataclass(frozen=True)
class LexiconSplit:
    train: np.ndarray  # (n, 2) source row, target row
    test: dict[int, frozenset[int]]  # held-out source row -> every correct target row
    pairs_in_vocabulary: int
    pairs_given: int


def lexicon_rows(pairs: Iterable[tuple[str, str]], source: WordVectors, target: WordVectors) -> tuple[list[tuple[int, int]], int]:
    """(source row, target row) of the pairs whose two words both have vectors."""
    given, rows = 0, set()
    for source_word, target_word in pairs:
        given += 1
        i, j = source.index.get(source_word), target.index.get(target_word)
        if i is not None and j is not None:
            rows.add((i, j))
    if given == 0:
        raise VocabError(f"{source.language}: the lexicon to {target.language} is empty")
    if not rows:
        raise VocabError(
            f"{source.language}: none of the {given} lexicon pairs has both words in the vectors "
            f"({len(source.words)} {source.language} words, {len(target.words)} {target.language} words); "
            "wrong language, casing or lexicon?"
        )
    return sorted(rows), given


def split_lexicon(rows: list[tuple[int, int]], given: int, test_size: int, seed: int) -> LexiconSplit:
    """Hold out ``test_size`` source words (at most half of them) with all their translations."""
    sources = sorted({i for i, _ in rows})
    held = min(test_size, len(sources) // 2)
    chosen = set(np.random.default_rng(seed).choice(sources, held, replace=False).tolist()) if held else set()
    test: dict[int, set[int]] = {}
    for i, j in rows:
        if i in chosen:
            test.setdefault(i, set()).add(j)
    train = np.array([(i, j) for i, j in rows if i not in chosen], dtype=np.int64).reshape(-1, 2)
    return LexiconSplit(train, {i: frozenset(js) for i, js in sorted(test.items())}, len(rows), given)


def precision_at_1(mapped: np.ndarray, target: np.ndarray, test: dict[int, frozenset[int]],
                   csls_k: int | None, density_words: int | None = None) -> float:
    """Share of held-out source words whose nearest target word is one of their translations.

    With CSLS each target's density is measured against the ``density_words`` most frequent
    mapped source words (all of them when None): every target word against every source word
    would cost vocab^2 x dim."""
    if not test:
        return float("nan")
    queries = list(test)
    key_density = mean_top_similarity(target, mapped[:density_words], csls_k) if csls_k is not None else None
    best = nearest(mapped[queries], target, csls_k, key_density=key_density)
    return float(np.mean([int(b) in test[q] for q, b in zip(queries, best)]))


@dataclass
class AlignmentResult:
    language: str
    pivot: str
    matrix: np.ndarray  # W: normalised source vector @ W lies in the pivot's normalised space
    source_normalizer: Normalizer
    pairs_given: int
    pairs_in_vocabulary: int
    train_pairs: int
    test_words: int
    precision_at_1: float
    precision_at_1_csls: float
    history: list[dict[str, float]] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)  # source words kept out of training, for evaluation

    def summary(self) -> dict[str, float | int | str | list]:
        return {
            "language": self.language, "pivot": self.pivot, "pairs_given": self.pairs_given,
            "pairs_in_vocabulary": self.pairs_in_vocabulary, "train_pairs": self.train_pairs,
            "test_words": self.test_words, "precision_at_1": self.precision_at_1,
            "precision_at_1_csls": self.precision_at_1_csls, "history": self.history,
        }


def refinement_pairs(mapped: np.ndarray, target: np.ndarray, max_rank: int, csls_k: int) -> np.ndarray:
    """Mutual CSLS nearest neighbours among the ``max_rank`` most frequent words of each side."""
    src, tgt = mapped[:max_rank], target[:max_rank]
    src_density = mean_top_similarity(src, tgt, csls_k)
    tgt_density = mean_top_similarity(tgt, src, csls_k)
    forward = nearest(src, tgt, csls_k, key_density=tgt_density)
    backward = nearest(tgt, src, csls_k, key_density=src_density)
    mutual = [(i, int(j)) for i, j in enumerate(forward) if backward[j] == i]
    return np.array(mutual, dtype=np.int64).reshape(-1, 2)


def align(source: WordVectors, target: WordVectors, pairs: Iterable[tuple[str, str]],
          config: AlignmentConfig) -> AlignmentResult:
    """Align ``source`` onto ``target`` with lexicon ``pairs`` of (source word, target word)."""
    if source.dim != target.dim:
        raise VocabError(f"cannot align {source.language} ({source.dim}-d) onto {target.language} ({target.dim}-d): "
                         "vectors of different dimensions")
    rows, given = lexicon_rows(pairs, source, target)
    split = split_lexicon(rows, given, config.test_size, config.seed)
    if len(split.train) == 0:
        raise VocabError(f"{source.language}: no lexicon pairs left to train the alignment")
    normalizer = Normalizer.fit(source.matrix)
    src, tgt = normalizer.apply(source.matrix), Normalizer.fit(target.matrix).apply(target.matrix)
    train = split.train
    history: list[dict[str, float]] = []
    for round_number in range(config.refine_iterations + 1):
        matrix = procrustes(src[train[:, 0]], tgt[train[:, 1]])
        mapped = src @ matrix
        history.append({"round": round_number, "train_pairs": int(len(train)),
                        "precision_at_1_csls": precision_at_1(mapped, tgt, split.test, config.csls_k,
                                                              config.csls_density_words)})
        if round_number < config.refine_iterations:
            found = refinement_pairs(mapped, tgt, config.refine_max_rank, config.csls_k)
            held = np.isin(found[:, 0], list(split.test))  # never train on held-out words
            train = np.unique(np.concatenate([split.train, found[~held]]), axis=0)
    return AlignmentResult(
        language=source.language, pivot=target.language, matrix=matrix, source_normalizer=normalizer,
        pairs_given=given, pairs_in_vocabulary=split.pairs_in_vocabulary, train_pairs=int(len(train)),
        test_words=len(split.test), precision_at_1=precision_at_1(mapped, tgt, split.test, None),
        precision_at_1_csls=history[-1]["precision_at_1_csls"], history=history,
        held_out=[source.words[i] for i in split.test],
    )
