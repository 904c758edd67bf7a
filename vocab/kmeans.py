"""k-means for rare-word clustering: scikit-learn's Lloyd ``KMeans``, or faiss when installed.

Both start from the same centroids, so a seed gives the same clusters: k-means++ on a
random subsample (random rows for very large k). scikit-learn moves the centre of a
cluster that empties to the points farthest from their centres.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from babelshard.vocab.counts import VocabError

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


def kmeans_sklearn(data: np.ndarray, k: int, iterations: int, seed: int) -> KMeansResult:
    from sklearn.cluster import KMeans

    # the same k-means++ start; tol=0: stop when no point changes cluster, as the NumPy loop does
    model = KMeans(k, init=initial_centroids(data, k, np.random.default_rng(seed)), n_init=1, max_iter=iterations,
                   tol=0.0, algorithm="lloyd", random_state=seed)
    labels = model.fit_predict(data)
    return KMeansResult(model.cluster_centers_.astype(np.float32), labels.astype(np.int64), float(model.inertia_), "sklearn")


def kmeans_faiss(data: np.ndarray, k: int, iterations: int, seed: int) -> KMeansResult:
    import faiss

    model = faiss.Kmeans(data.shape[1], k, niter=iterations, seed=seed, verbose=False, spherical=False)
    # the same k-means++ start as scikit-learn's: faiss's random start splits and merges groups
    model.train(data, init_centroids=initial_centroids(data, k, np.random.default_rng(seed)))
    distances, labels = model.index.search(data, 1)
    return KMeansResult(model.centroids.astype(np.float32), labels[:, 0].astype(np.int64),
                        float(distances.sum()), "faiss")


def kmeans(data: np.ndarray, k: int, iterations: int = 25, seed: int = 0,
           backend: Literal["auto", "faiss", "sklearn"] = "auto") -> KMeansResult:
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
    return kmeans_sklearn(data, k, iterations, seed)
