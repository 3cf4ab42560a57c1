"""The FAISS side: exact search for small indexes, HNSW above a size, both saved and loaded."""

from __future__ import annotations

import numpy as np

from knowledge_base.vectors import VectorIndex


def unit_vectors(count: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_small_indexes_are_exact_and_return_the_ids_they_were_given():
    vectors = unit_vectors(50)
    index = VectorIndex.build(vectors, np.arange(50) + 100)
    scores, ids = index.search(vectors[7], 3)
    assert not index.approximate
    assert ids[0] == 107 and abs(scores[0] - 1.0) < 1e-5
    assert list(scores) == sorted(scores, reverse=True)


def test_asking_for_more_than_there_is_pads_with_minus_one():
    index = VectorIndex.build(unit_vectors(2), np.array([5, 6]))
    _, ids = index.search(unit_vectors(1, seed=1)[0], 4)
    assert sorted(ids.tolist()) == [5, 6]


def test_large_indexes_are_hnsw_and_agree_with_exact_search(tmp_path):
    vectors, queries = unit_vectors(3000), unit_vectors(100, seed=1)
    exact = VectorIndex.build(vectors, np.arange(3000))
    approximate = VectorIndex.build(vectors, np.arange(3000), approximate_above=1000)
    assert approximate.approximate
    approximate.save(tmp_path / "vectors.faiss")
    loaded = VectorIndex.load(tmp_path / "vectors.faiss")
    assert loaded.approximate and len(loaded) == 3000
    found = [len(set(exact.search(q, 5)[1]) & set(loaded.search(q, 5)[1])) for q in queries]
    assert sum(found) / (5 * len(queries)) >= 0.95  # recall@5 of HNSW against exact search
