"""StandardScaler + PCA from one distributed pass of partial sums and a small driver-side eigh.

Each partition returns (n, sum x, sum x x^T) over its feature vectors; the driver adds them, forms the
covariance, standardizes it to the correlation matrix (sample std, ddof=1, as Spark ML's StandardScaler)
and takes its eigen-decomposition. This equals StandardScaler(withMean, withStd) followed by PCA, with
features read once per pass and never recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark import Accumulator, AccumulatorParam, TaskContext
from pyspark.sql import DataFrame, SparkSession

from orchard_job.model import FEATURE_DIM

COUNTS_SCHEMA = pa.schema([("partition", pa.int32()), ("n", pa.int64())])
# Feature rows are 5 KB: bigger Arrow batches than the featurize stage's make fewer, larger matrix products.
ARROW_BATCH_ROWS = "4096"
SUMS_BYTES = 8 * FEATURE_DIM * (FEATURE_DIM + 1)  # a task's reported sums: 13 MB of float64


class PcaError(ValueError):
    """PCA cannot be fitted on this data (for example fewer than two images)."""


@dataclass(frozen=True)
class PcaModel:
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,) sample std; 0 for constant features (their scaled value is 0, as Spark ML)
    components: np.ndarray  # (d, k), unit columns, sign fixed so each column's largest |entry| is > 0
    explained_variance: np.ndarray  # (k,) ratio of total variance per kept component
    all_explained_variance: np.ndarray  # (d,) every component's ratio, for the scree plot
    n_rows: int

    @property
    def k(self) -> int:
        return int(self.components.shape[1])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """((x - mean) / std) @ components, computed as x @ W - c: one matrix product over the rows."""
        inverse_std = np.divide(1.0, self.std, out=np.zeros_like(self.std), where=self.std > 0)
        weights = self.components * inverse_std[:, None]
        return features @ weights - (self.mean * inverse_std) @ self.components


def vectors(batch: pa.RecordBatch, column: str, dim: int = FEATURE_DIM) -> np.ndarray:
    """A list<float> column as an (n, dim) float32 array without per-row Python work."""
    lists = batch.column(column)
    values = lists.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(lists), dim).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Sums:
    """(n, sum x, sum x x^T) over feature rows; `partitions` names the tasks an accumulator has added."""

    partitions: frozenset[int]
    n: int
    total: np.ndarray
    gram: np.ndarray

    @staticmethod
    def empty() -> Sums:
        return Sums(frozenset(), 0, np.zeros(FEATURE_DIM), np.zeros((FEATURE_DIM, FEATURE_DIM)))

    def plus(self, other: Sums, sign: int = 1) -> Sums:
        """The sums over this set of rows with `other`'s rows added (sign 1) or taken out (sign -1)."""
        total, gram = self.total + sign * other.total, self.gram + sign * other.gram
        return Sums(frozenset(), self.n + sign * other.n, total, gram)


class SumsParam(AccumulatorParam[Sums]):
    """Adds each partition's sums once: a retried or speculative task's second report is ignored."""

    def zero(self, value: Sums) -> Sums:
        return Sums.empty()

    def addInPlace(self, value1: Sums, value2: Sums) -> Sums:  # noqa: N802 - pyspark's name
        if value1.partitions & value2.partitions:
            return value1
        return Sums(
            value1.partitions | value2.partitions,
            value1.n + value2.n,
            value1.total + value2.total,
            value1.gram + value2.gram,
        )


class TaskSums:
    """A task's running sums over the feature batches it sees, reported once to an accumulator."""

    def __init__(self) -> None:
        self.n, self.total, self.gram = 0, np.zeros(FEATURE_DIM), np.zeros((FEATURE_DIM, FEATURE_DIM))

    def add(self, x: np.ndarray) -> None:
        self.n += len(x)
        self.total += x.sum(axis=0, dtype=np.float64)
        self.gram += (x.T @ x).astype(np.float64)  # float32 per batch of <= maxRecordsPerBatch rows

    def report(self, accumulator: Accumulator[Sums]) -> int:
        """Adds the sums under this task's partition id (nothing when it saw no rows); returns the id."""
        partition = TaskContext.get().partitionId()  # type: ignore[union-attr]
        if self.n:
            accumulator.add(Sums(frozenset([partition]), self.n, self.total, self.gram))
        return partition


def max_sum_tasks(spark: SparkSession) -> int:
    """How many tasks may report sums: each report counts against spark.driver.maxResultSize (keep half)."""
    limit = spark.sparkContext.getConf().get("spark.driver.maxResultSize", "1g")
    jvm = spark.sparkContext._jvm
    size = int(jvm.org.apache.spark.network.util.JavaUtils.byteStringAsBytes(limit))  # type: ignore[union-attr]
    return 2**31 - 1 if size <= 0 else max(1, size // 2 // SUMS_BYTES)  # 0: no limit


def fit(features: DataFrame | None, variance: float, k: int | None) -> PcaModel:
    """Scale + PCA of the feature rows: one distributed pass of partial sums, then a driver-side eigh."""
    return fit_sums(partial_sums(features) if features is not None else Sums.empty(), variance, k)


def partial_sums(features: DataFrame) -> Sums:
    """Partial sums per partition, added on the driver as tasks finish (it holds one d x d sum at a time).

    The sums travel as an accumulator rather than as rows: no second Python pass over the results, and the
    driver never holds more than the running total. Each task also returns (partition, n) as a row, so a
    lost report fails the fit instead of silently shrinking it.
    """
    spark = features.sparkSession
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", ARROW_BATCH_ROWS)
    sums = spark.sparkContext.accumulator(Sums.empty(), SumsParam())

    def task_sums(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        running = TaskSums()
        for batch in batches:
            running.add(vectors(batch, "features"))
        partition = running.report(sums)
        yield pa.RecordBatch.from_pydict({"partition": [partition], "n": [running.n]}, schema=COUNTS_SCHEMA)

    rows = features.select("features").coalesce(max_sum_tasks(spark))
    counted = rows.mapInArrow(task_sums, "partition int, n long").collect()
    reported = {row.partition: row.n for row in counted if row.n}
    total = sums.value
    if set(reported) != total.partitions or sum(reported.values()) != total.n:
        raise PcaError(f"partial sums of partitions {sorted(set(reported) - total.partitions)} were lost")
    return total


def fit_sums(sums: Sums, variance: float, k: int | None) -> PcaModel:
    return fit_from_sums(sums.n, sums.total, sums.gram, variance, k)


def fit_from_sums(
    count: int, total: np.ndarray, gram: np.ndarray, variance: float, k: int | None
) -> PcaModel:
    if count < 2:
        raise PcaError(f"PCA needs at least 2 decodable images, found {count}")
    mean = total / count
    covariance = (gram - count * np.outer(mean, mean)) / (count - 1)
    std = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    std[std < 1e-12 * max(float(std.max()), 1e-30)] = 0.0
    inverse_std = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    correlation = covariance * np.outer(inverse_std, inverse_std)
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    eigenvectors = eigenvectors[:, order]
    ratios = eigenvalues / eigenvalues.sum()
    rank_bound = min(count - 1, int(np.count_nonzero(std)))  # beyond it, eigenvalues are rounding noise
    keep = min(choose_k(ratios, variance, k), max(rank_bound, 1))
    components = eigenvectors[:, :keep]
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(keep)])
    return PcaModel(mean, std, components * signs, ratios[:keep], ratios, count)


def choose_k(ratios: np.ndarray, variance: float, k: int | None) -> int:
    """Smallest k whose cumulative explained variance reaches `variance`, or the given k."""
    if k is not None:
        return min(k, len(ratios))
    cumulative = np.cumsum(ratios)
    return min(int(np.searchsorted(cumulative, variance - 1e-12) + 1), len(ratios))


def project(features: DataFrame, model: PcaModel, projected: Accumulator[int] | None = None) -> DataFrame:
    """path, label, pca array<float> (k values) for every row of `features`; counts them into `projected`."""
    features.sparkSession.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", ARROW_BATCH_ROWS)

    def run(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            scores = model.transform(vectors(batch, "features").astype(np.float64)).astype(np.float32)
            offsets = pa.array(np.arange(len(scores) + 1, dtype=np.int32) * scores.shape[1])
            pca = pa.ListArray.from_arrays(offsets, pa.array(scores.reshape(-1)))
            if projected is not None:
                projected.add(len(scores))
            yield pa.RecordBatch.from_arrays(
                [batch.column("path"), batch.column("label"), pca], names=["path", "label", "pca"]
            )

    return features.select("path", "label", "features").mapInArrow(
        run, "path string, label string, pca array<float>"
    )
