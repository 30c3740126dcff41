"""The sums that determine scale + PCA: (n, sum x, sum x x^T) over feature rows, gathered from Spark tasks.

Each task adds up the feature vectors it sees and reports its sums once through an accumulator; the driver
adds the reports as tasks finish, so it never holds more than one running total. The sums travel as an
accumulator rather than as rows: no second Python pass over the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark import Accumulator, AccumulatorParam, TaskContext
from pyspark.sql import DataFrame, SparkSession

from orchard_contract.tables import FEATURE_DIM

COUNTS_SCHEMA = pa.schema([("partition", pa.int32()), ("n", pa.int64())])
# Feature rows are large: bigger Arrow batches than the featurize stage's make fewer, larger matrix products.
ARROW_BATCH_ROWS = "4096"
SUMS_BYTES = 8 * FEATURE_DIM * (FEATURE_DIM + 1)  # a task's reported sums, in float64


class LostSumsError(ValueError):
    """The sums cannot cover the rows they should (a task's report was lost, rows are missing)."""


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

    @staticmethod
    def of(x: np.ndarray) -> Sums:
        """The sums over the rows of an (n, FEATURE_DIM) array, in float64."""
        x64 = x.astype(np.float64)
        return Sums(frozenset(), len(x64), x64.sum(axis=0), x64.T @ x64)

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


def sum_rows(features: DataFrame) -> Sums:
    """The sums over every row of `features` (its `features` column), in one distributed pass.

    Each task also returns (partition, n) as a row, so a lost report fails the sums instead of silently
    shrinking them.
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
        lost = sorted(set(reported) - total.partitions)
        raise LostSumsError(f"partial sums of partitions {lost} were lost")
    return total
