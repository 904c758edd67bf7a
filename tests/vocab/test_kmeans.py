"""The NumPy k-means (and faiss when installed) on data with a known answer."""
from __future__ import annotations

import numpy as np
import pytest

from babelshard.vocab.counts import VocabError
from babelshard.vocab.kmeans import _update, assign, faiss_available, initial_centroids, kmeans


def blobs(k: int = 8, per: int = 300, dim: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, dim)).astype(np.float32) * 10
    labels = np.repeat(np.arange(k), per)
    return centers[labels] + rng.standard_normal((k * per, dim)).astype(np.float32), labels


def purity(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(np.bincount(truth[found == c]).max() for c in np.unique(found)) / len(truth)


def test_numpy_kmeans_finds_separated_groups():
    data, truth = blobs()
    result = kmeans(data, 8, iterations=30, seed=0, backend="numpy")
    assert result.backend == "numpy" and result.centroids.shape == (8, 20)
    assert purity(result.assignments, truth) > 0.95
    labels, distances = assign(data, result.centroids)
    assert np.array_equal(labels, result.assignments)
    brute = ((data[:, None, :] - result.centroids[None]) ** 2).sum(-1)
    assert np.array_equal(labels, brute.argmin(1)) and np.allclose(distances, brute.min(1), rtol=1e-3, atol=1e-2)


def test_same_seed_same_clusters_other_seed_other_start():
    data, _ = blobs(k=30, per=50, seed=1)
    first = kmeans(data, 40, iterations=5, seed=7, backend="numpy")
    again = kmeans(data, 40, iterations=5, seed=7, backend="numpy")
    other = kmeans(data, 40, iterations=5, seed=8, backend="numpy")
    assert np.array_equal(first.assignments, again.assignments) and np.array_equal(first.centroids, again.centroids)
    assert not np.array_equal(first.centroids, other.centroids)


def test_coinciding_points_still_give_k_clusters():
    # 6 distinct points, many copies each, and 10 clusters: some start empty-handed
    rng = np.random.default_rng(0)
    points = rng.standard_normal((6, 4)).astype(np.float32)
    data = np.concatenate([points.repeat(50, axis=0), rng.standard_normal((10, 4)).astype(np.float32) * 5])
    start = initial_centroids(data, 10, np.random.default_rng(0))
    assert len(np.unique(start, axis=0)) < 10  # the seeding sample has too few distinct points: empty clusters
    result = kmeans(data, 10, iterations=20, seed=0, backend="numpy")
    assert len(np.unique(result.assignments)) == 10


def test_an_empty_cluster_takes_the_worst_fitting_point():
    data = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], dtype=np.float32)
    labels, distances = np.array([0, 0, 0]), np.array([0.0, 0.01, 50.0], dtype=np.float32)
    centroids = _update(data, labels, distances, 2)
    assert np.allclose(centroids[1], data[2]) and np.allclose(centroids[0], data.mean(axis=0))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(VocabError, match="cannot make 5 clusters from 3 vectors"):
        kmeans(np.zeros((3, 2), np.float32), 5)
    with pytest.raises(VocabError, match="non-empty 2-d"):
        kmeans(np.zeros((0, 2), np.float32), 1)
    if not faiss_available():
        with pytest.raises(VocabError, match="pip install faiss-cpu"):
            kmeans(np.zeros((3, 2), np.float32), 1, backend="faiss")


def test_faiss_and_numpy_agree_on_quality():
    if not faiss_available():
        pytest.skip("faiss-cpu not installed (optional)")
    data, truth = blobs(seed=3)
    numpy_result = kmeans(data, 8, iterations=30, seed=0, backend="numpy")
    faiss_result = kmeans(data, 8, iterations=30, seed=0, backend="faiss")
    assert faiss_result.backend == "faiss" and purity(faiss_result.assignments, truth) > 0.95
    assert faiss_result.inertia < 1.2 * numpy_result.inertia
