"""k-means (scikit-learn, and faiss when installed) on data with a known answer."""
from __future__ import annotations

import numpy as np
import pytest

from babelshard.vocab.counts import VocabError
from babelshard.vocab.kmeans import faiss_available, initial_centroids, kmeans


def blobs(k: int = 8, per: int = 300, dim: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, dim)).astype(np.float32) * 10
    labels = np.repeat(np.arange(k), per)
    return centers[labels] + rng.standard_normal((k * per, dim)).astype(np.float32), labels


def purity(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(np.bincount(truth[found == c]).max() for c in np.unique(found)) / len(truth)


def test_kmeans_finds_separated_groups():
    data, truth = blobs()
    result = kmeans(data, 8, iterations=30, seed=0, backend="sklearn")
    assert result.backend == "sklearn" and result.centroids.shape == (8, 20)
    assert purity(result.assignments, truth) > 0.95
    brute = ((data[:, None, :] - result.centroids[None]) ** 2).sum(-1)
    assert np.array_equal(result.assignments, brute.argmin(1))
    assert np.isclose(result.inertia, brute.min(1).sum(), rtol=1e-3)
    for cluster in range(8):  # converged: each centre is the mean of its points
        assert np.allclose(result.centroids[cluster], data[result.assignments == cluster].mean(axis=0), atol=1e-3)


def test_the_default_backend_starts_from_the_kmeans_plus_plus_centroids():
    data, _ = blobs(k=30, per=50, seed=1)
    start = initial_centroids(data, 40, np.random.default_rng(7))
    one_step = kmeans(data, 40, iterations=1, seed=7)
    nearest = ((data[:, None, :] - start[None]) ** 2).sum(-1).argmin(1)
    assert one_step.backend == ("faiss" if faiss_available() else "sklearn")
    if one_step.backend == "sklearn":  # one Lloyd step from that start: centres are the means of its assignment
        for cluster in np.unique(nearest):
            assert np.allclose(one_step.centroids[cluster], data[nearest == cluster].mean(axis=0), atol=1e-3)


def test_same_seed_same_clusters_other_seed_other_start():
    data, _ = blobs(k=30, per=50, seed=1)
    first = kmeans(data, 40, iterations=5, seed=7, backend="sklearn")
    again = kmeans(data, 40, iterations=5, seed=7, backend="sklearn")
    other = kmeans(data, 40, iterations=5, seed=8, backend="sklearn")
    assert np.array_equal(first.assignments, again.assignments) and np.array_equal(first.centroids, again.centroids)
    assert not np.array_equal(first.centroids, other.centroids)


def test_coinciding_points_still_give_k_clusters():
    # 6 distinct points, many copies each, and 10 clusters: some start empty-handed
    rng = np.random.default_rng(0)
    points = rng.standard_normal((6, 4)).astype(np.float32)
    data = np.concatenate([points.repeat(50, axis=0), rng.standard_normal((10, 4)).astype(np.float32) * 5])
    start = initial_centroids(data, 10, np.random.default_rng(0))
    assert len(np.unique(start, axis=0)) < 10  # the seeding sample has too few distinct points: empty clusters
    result = kmeans(data, 10, iterations=20, seed=0, backend="sklearn")
    assert len(np.unique(result.assignments)) == 10


def test_an_empty_cluster_takes_the_worst_fitting_point():
    # 100 copies of one point and one far point: the seeding sample (16 rows) misses the far
    # point, both starting centres coincide, one cluster starts empty and must take the far point
    data = np.array([[0.0, 0.0]] * 100 + [[5.0, 5.0]], dtype=np.float32)
    start = initial_centroids(data, 2, np.random.default_rng(2))
    assert np.array_equal(start[0], start[1])
    result = kmeans(data, 2, iterations=5, seed=2, backend="sklearn")
    assert sorted(np.bincount(result.assignments).tolist()) == [1, 100]
    far = result.assignments[-1]
    assert np.allclose(result.centroids[far], data[-1]) and np.allclose(result.centroids[1 - far], data[0], atol=1e-6)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(VocabError, match="cannot make 5 clusters from 3 vectors"):
        kmeans(np.zeros((3, 2), np.float32), 5)
    with pytest.raises(VocabError, match="non-empty 2-d"):
        kmeans(np.zeros((0, 2), np.float32), 1)
    if not faiss_available():
        with pytest.raises(VocabError, match="pip install faiss-cpu"):
            kmeans(np.zeros((3, 2), np.float32), 1, backend="faiss")


def test_faiss_and_sklearn_agree_on_quality():
    if not faiss_available():
        pytest.skip("faiss-cpu not installed (optional)")
    data, truth = blobs(seed=3)
    sklearn_result = kmeans(data, 8, iterations=30, seed=0, backend="sklearn")
    faiss_result = kmeans(data, 8, iterations=30, seed=0, backend="faiss")
    assert faiss_result.backend == "faiss" and purity(faiss_result.assignments, truth) > 0.95
    assert faiss_result.inertia < 1.2 * sklearn_result.inertia
