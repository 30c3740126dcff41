"""Leave-one-out kNN label agreement against a brute-force reference (a pair loop, no matrix products)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from orchard_job import run_page_knn
from orchard_job.run_page_knn import DISTANCES, label_agreement, nearest, query_sample, vote


def brute_force(vectors: np.ndarray, labels: list[str], queries: list[int], k: int) -> list[bool]:
    """Each query's k nearest other rows by math.dist, ties to the lower index; the vote by hand."""
    hits = []
    for q in queries:
        ranked = sorted((math.dist(vectors[q], vectors[j]), j) for j in range(len(labels)) if j != q)
        near = [labels[j] for _, j in ranked[:k]]
        counts = Counter(near)
        predicted = min(counts, key=lambda label: (-counts[label], near.index(label)))
        hits.append(predicted == labels[q])
    return hits


def clustered(rows: int, labels: int, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = np.array([f"L{i}" for i in rng.integers(0, labels, rows)])
    centres = {name: rng.normal(0, 2, dims) for name in set(names)}
    vectors = np.array([centres[name] + rng.normal(0, 1.5, dims) for name in names], np.float32)
    return vectors, names


def test_agreement_matches_brute_force_overall_and_per_label() -> None:
    vectors, labels = clustered(300, 4, 6, seed=1)
    result = label_agreement(vectors, labels, max_queries=120, seed=7)
    assert result is not None
    queries = query_sample(300, 120, 7).tolist()
    hits = brute_force(vectors.astype(np.float64), labels.tolist(), queries, 5)
    assert result.queries == 120 and result.rows == 300 and result.neighbours == 5
    assert result.agreement == sum(hits) / len(hits)
    assert 0.3 < result.agreement < 1.0  # the data is neither separable nor noise: a discriminating case
    for label, (count, share) in result.by_label.items():
        mine = [hit for q, hit in zip(queries, hits, strict=True) if labels[q] == label]
        assert (count, share) == (len(mine), sum(mine) / len(mine))


def test_ties_break_by_lower_row_index_and_nearest_label() -> None:
    # Rows 1..4 are exact duplicates at the same distance from row 0; so are 5 and 6.
    vectors = np.array([[0, 0], [1, 0], [1, 0], [1, 0], [1, 0], [0, 2], [0, 2], [9, 9]], np.float32)
    assert nearest(vectors, np.array([0, 5]), 3).tolist() == [[1, 2, 3], [6, 0, 1]]
    assert vote(["b", "a", "a", "b", "c"]) == "b"  # 2-2-1: b's nearest member comes first
    labels = np.array(["x", "y", "y", "x", "x", "z", "z", "z"])
    hits = brute_force(vectors.astype(np.float64), labels.tolist(), list(range(8)), 5)
    result = label_agreement(vectors, labels)
    assert result is not None and result.agreement == sum(hits) / 8


def test_blocks_give_the_same_neighbours(monkeypatch) -> None:
    vectors, _ = clustered(200, 3, 5, seed=2)
    queries = np.arange(200)
    whole = nearest(vectors, queries, 5)
    monkeypatch.setattr(run_page_knn, "BLOCK_CELLS", 3 * 200)  # three queries per block
    assert np.array_equal(nearest(vectors, queries, 5), whole)


def test_too_few_rows_or_no_dimensions() -> None:
    assert label_agreement(np.zeros((1, 3), np.float32), np.array(["a"])) is None
    assert label_agreement(np.zeros((10, 0), np.float32), np.array(["a"] * 10)) is None
    two = label_agreement(np.array([[0.0], [1.0]], np.float32), np.array(["a", "b"]))
    assert two is not None and two.neighbours == 1 and two.agreement == 0.0


def test_at_scale_the_sample_shrinks_to_its_cost_bound() -> None:
    """90,000 rows of 64 dimensions: fewer than 5,000 queries, as many as the bound on distances allows."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(90_000, 64)).astype(np.float32)
    labels = np.array([f"L{i % 131}" for i in range(90_000)])
    result = label_agreement(vectors, labels)
    assert result is not None and result.queries == int(DISTANCES / 90_000) and len(result.by_label) == 131
    small = label_agreement(vectors[:2_000], labels[:2_000])
    assert small is not None and small.queries == 2_000  # every row votes while it is cheap
