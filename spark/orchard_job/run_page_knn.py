"""Feature quality for the run page: leave-one-out k-nearest-neighbour label agreement in PCA space.

For a seeded sample of query rows (at most MAX_QUERIES, fewer where rows x dims would make it slow), the
``neighbours`` nearest other rows (Euclidean distance over all rows) vote on a label; agreement is the share
of queries whose vote is their own label. Distances come from blocked matrix products (|q|^2 - 2 q.x + |x|^2,
float32 products, a block of queries at a time, so memory stays bounded); the candidates near the cut are
then measured exactly as |q - x|^2 in float64. Ties are broken deterministically: equal distances by the
lower row index, equal votes by the label whose nearest member is nearest (the tied label seen first in
neighbour order).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

MAX_QUERIES = 5000
# The figure's cost bound, so that it stays seconds on every run: a query costs rows x dims multiply-adds and
# rows distances; past these totals the sample shrinks (the page says how many queries voted).
MULTIPLY_ADDS = 2e10
DISTANCES = 1.5e8
MIN_QUERIES = 400
NEIGHBOURS = 5
SEED = 0
BLOCK_CELLS = 8_000_000  # distances held at once (float64): about 64 MB whatever the number of rows


@dataclass(frozen=True)
class Agreement:
    queries: int
    rows: int
    neighbours: int
    agreement: float  # share of queries whose neighbours' vote is their own label
    by_label: dict[str, tuple[int, float]]  # label -> (queries, agreement)
    majority_share: float  # agreement of always guessing the most common label: the floor to beat


def query_sample(rows: int, max_queries: int = MAX_QUERIES, seed: int = SEED) -> np.ndarray:
    """The query rows, sorted: all rows when there are few, else a seeded sample without replacement."""
    if rows <= max_queries:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=max_queries, replace=False))


def nearest(vectors: np.ndarray, queries: np.ndarray, neighbours: int) -> np.ndarray:
    """(len(queries), neighbours) row indexes of each query's nearest other rows, nearest first."""
    x = np.asarray(vectors, dtype=np.float32)  # the rows stay float32 (as published): 4 x k bytes each
    squared = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    block = max(1, BLOCK_CELLS // max(1, len(x)))
    found = np.empty((len(queries), neighbours), dtype=np.int64)
    for start in range(0, len(queries), block):
        rows = queries[start : start + block]
        products = (x[rows] @ x.T).astype(np.float64)
        distances = squared[rows, None] - 2.0 * products + squared[None, :]
        distances[np.arange(len(rows)), rows] = np.inf  # leave one out: a row is not its own neighbour
        cut = np.partition(distances, neighbours - 1, axis=1)[:, neighbours - 1]
        # The float32 products' rounding is relative to the norms: take every row within it of the cut, then
        # rank those candidates by their exact (float64) distance.
        slack = 1e-5 * (squared[rows] + squared.max() + 1.0)
        for i, row in enumerate(rows):
            candidates = np.flatnonzero(distances[i] <= cut[i] + slack[i])
            candidates = candidates[candidates != row]
            exact = np.square(x[candidates].astype(np.float64) - x[row].astype(np.float64)).sum(axis=1)
            order = np.lexsort((candidates, exact))  # by distance, then by row index
            found[start + i] = candidates[order[:neighbours]]
    return found


def vote(labels: list[str]) -> str:
    """The most common label, nearest first among equals."""
    counts = Counter(labels)
    best = max(counts.values())
    return next(label for label in labels if counts[label] == best)


def label_agreement(
    vectors: np.ndarray,
    labels: np.ndarray,
    neighbours: int = NEIGHBOURS,
    max_queries: int = MAX_QUERIES,
    seed: int = SEED,
) -> Agreement | None:
    """None when there are too few rows (or no dimensions) for any neighbour to vote."""
    rows = len(labels)
    neighbours = min(neighbours, rows - 1)
    if neighbours < 1 or vectors.ndim != 2 or vectors.shape[1] == 0:
        return None
    affordable = min(MULTIPLY_ADDS / (rows * vectors.shape[1]), DISTANCES / rows)
    queries = query_sample(rows, min(max_queries, max(MIN_QUERIES, int(affordable))), seed)
    found = nearest(vectors, queries, neighbours)
    hits = np.array([vote(list(labels[f])) == labels[q] for q, f in zip(queries, found, strict=True)])
    by_label = {}
    for label in sorted(set(labels[queries])):
        mine = labels[queries] == label
        by_label[str(label)] = (int(mine.sum()), float(hits[mine].mean()))
    majority = Counter(labels.tolist()).most_common(1)[0][1] / rows
    return Agreement(len(queries), rows, neighbours, float(hits.mean()), by_label, majority)
