"""k-means for rare-word clustering: faiss when installed, else a NumPy Lloyd implementation.

The NumPy version (torch sums the clusters) works in row blocks (distances via ||x||^2 - 2 x.c + ||c||^2 with a
BLAS matrix product), so memory stays at the data plus one block of distances. It is
deterministic for a seed: initial centroids come from k-means++ on a random subsample
(random rows for very large k), and an empty cluster is re-seeded with the point farthest from its centroid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from babelshard.vocab.counts import VocabError

BLOCK_ROWS = 16384
SEED_SAMPLE_PER_CLUSTER = 8
PLUS_PLUS_MAX_K = 2048


@dataclass(frozen=True)
class KMeansResult:
    centroids: np.ndarray  # (k, d) float32
    assignments: np.ndarray  # (n,) int64
    inertia: float
    backend: str


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def assign(data: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row and the squared distance to it."""
    centroid_norms = np.einsum("ij,ij->i", centroids, centroids)
    labels = np.empty(data.shape[0], dtype=np.int64)
    distances = np.empty(data.shape[0], dtype=np.float32)
    for start in range(0, data.shape[0], BLOCK_ROWS):
        block = data[start:start + BLOCK_ROWS]
        scores = block @ centroids.T
        scores *= -2.0
        scores += centroid_norms[None, :]
        best = scores.argmin(axis=1)
        labels[start:start + BLOCK_ROWS] = best
        row_norms = np.einsum("ij,ij->i", block, block)
        distances[start:start + BLOCK_ROWS] = np.maximum(scores[np.arange(len(best)), best] + row_norms, 0.0)
    return labels, distances


def _update(data: np.ndarray, labels: np.ndarray, distances: np.ndarray, k: int) -> np.ndarray:
    """Mean of each cluster's rows; empty clusters take the currently worst-fitting points."""
    import torch  # index_add_ is ~10x faster than np.add.at and sums in a fixed order

    sums = torch.zeros((k, data.shape[1]), dtype=torch.float64)
    for start in range(0, data.shape[0], BLOCK_ROWS):  # blocks: no float64 copy of the whole data
        block = torch.from_numpy(data[start:start + BLOCK_ROWS]).to(torch.float64)
        sums.index_add_(0, torch.from_numpy(labels[start:start + BLOCK_ROWS]), block)
    sums = sums.numpy()
    sizes = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(sizes == 0)
    if len(empty):
        farthest = np.argsort(-distances, kind="stable")[: len(empty)]
        sums[empty] = data[farthest]
        sizes[empty] = 1
    return (sums / sizes[:, None]).astype(np.float32)


def initial_centroids(data: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ (D^2 sampling) on a random subsample of at most SEED_SAMPLE_PER_CLUSTER * k rows:
    random starts leave groups split or merged, and full k-means++ costs k passes over all rows.
    Past PLUS_PLUS_MAX_K centres even the subsample costs k^2 passes: distinct random rows then."""
    rows = np.sort(rng.choice(data.shape[0], min(data.shape[0], SEED_SAMPLE_PER_CLUSTER * k), replace=False))
    if k > PLUS_PLUS_MAX_K:
        return data[rows[np.sort(rng.choice(len(rows), k, replace=False))]].copy()
    sample = data[rows]
    norms = np.einsum("ij,ij->i", sample, sample)

    def squared_distances(row: int) -> np.ndarray:  # one matrix-vector product per new centre
        return np.maximum(norms - 2.0 * (sample @ sample[row]) + norms[row], 0.0)

    chosen = [int(rng.integers(sample.shape[0]))]
    closest = squared_distances(chosen[0])
    for _ in range(1, k):
        total = float(closest.sum())
        if total <= 0.0:  # every sampled point is already a centre: take unused ones
            chosen.append(int(np.setdiff1d(np.arange(sample.shape[0]), chosen)[0]))
        else:
            pick = int(np.searchsorted(np.cumsum(closest), rng.random() * total, side="right"))
            chosen.append(min(pick, sample.shape[0] - 1))
        np.minimum(closest, squared_distances(chosen[-1]), out=closest)
    return sample[chosen].copy()


def kmeans_numpy(data: np.ndarray, k: int, iterations: int, seed: int) -> KMeansResult:
    centroids = initial_centroids(data, k, np.random.default_rng(seed))
    labels, distances = assign(data, centroids)
    for _ in range(iterations):
        centroids = _update(data, labels, distances, k)
        new_labels, distances = assign(data, centroids)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return KMeansResult(centroids, labels, float(distances.sum()), "numpy")


def kmeans_faiss(data: np.ndarray, k: int, iterations: int, seed: int) -> KMeansResult:
    import faiss

    model = faiss.Kmeans(data.shape[1], k, niter=iterations, seed=seed, verbose=False, spherical=False)
    # the same k-means++ start as the NumPy version: faiss's random start splits and merges groups
    model.train(data, init_centroids=initial_centroids(data, k, np.random.default_rng(seed)))
    distances, labels = model.index.search(data, 1)
    return KMeansResult(model.centroids.astype(np.float32), labels[:, 0].astype(np.int64),
                        float(distances.sum()), "faiss")


def kmeans(data: np.ndarray, k: int, iterations: int = 25, seed: int = 0,
           backend: Literal["auto", "faiss", "numpy"] = "auto") -> KMeansResult:
    """Cluster the rows of ``data`` into ``k`` groups."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] == 0:
        raise VocabError(f"k-means needs a non-empty 2-d array, got shape {data.shape}")
    if k > data.shape[0]:
        raise VocabError(f"cannot make {k} clusters from {data.shape[0]} vectors; lower hybrid.num_shared")
    if backend == "faiss" and not faiss_available():
        raise VocabError("hybrid.backend is faiss but faiss is not installed (pip install faiss-cpu)")
    if backend == "faiss" or (backend == "auto" and faiss_available()):
        return kmeans_faiss(data, k, iterations, seed)
    return kmeans_numpy(data, k, iterations, seed)
