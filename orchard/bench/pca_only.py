"""Scale + PCA alone on N synthetic 1280-d rows (written to Parquet first, untimed), local Spark.

python -m orchard.bench.pca_only N CORES WORKDIR
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark import RDD
from pyspark.sql import SparkSession

from orchard.local.spark import local_conf
from orchard_contract.tables import FEATURE_DIM
from orchard_job import pca
from orchard_job.sums import sum_rows

RANK = (
    256  # latent factors with a decaying spectrum: k at 95% lands in the low hundreds, as for real features
)
ROWS_PER_PARTITION = 12_500


def synthetic(spark: SparkSession, rows: int, path: Path) -> None:
    """Non-negative rows of a low-rank signal plus noise (like pooled ReLU features), seeded per partition."""
    partitions = max(1, rows // ROWS_PER_PARTITION)

    def generate(index: int, _rows: Iterable[int]) -> Iterator[tuple[str, str, list[float]]]:
        rng = np.random.default_rng(1000 + index)
        spectrum = np.geomspace(1.0, 0.01, RANK)[:, None]
        basis = np.random.default_rng(7).normal(size=(RANK, FEATURE_DIM)) * spectrum
        count = rows // partitions + (1 if index < rows % partitions else 0)
        signal = rng.normal(size=(count, RANK)) @ basis * 0.1
        x = np.maximum(signal + 1.0 + rng.normal(0.0, 0.01, size=(count, FEATURE_DIM)), 0.0)
        for i, row in enumerate(x.astype(np.float32)):
            yield (f"synthetic/{index}/{i}.jpg", f"L{i % 24}", row.tolist())

    rdd: RDD[tuple[str, str, list[float]]] = spark.sparkContext.parallelize(
        range(partitions), partitions
    ).mapPartitionsWithIndex(generate)
    spark.createDataFrame(rdd, "path string, label string, features array<float>").write.mode(
        "overwrite"
    ).parquet(str(path))


def start_python_workers(spark: SparkSession) -> float:
    """Run the session's first Python task (JVM job machinery, worker start-up, imports) and time it.

    In the job, the listing and featurize stages have paid this before PCA starts, so it is timed apart.
    """

    def passthrough(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from batches

    started = time.perf_counter()
    spark.range(1).mapInArrow(passthrough, "id long").collect()
    return time.perf_counter() - started


def main() -> None:
    rows, cores, workdir = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    builder = SparkSession.builder
    for key, value in local_conf(cores).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    data = workdir / f"features-{rows}-rank{RANK}"
    if not data.exists():
        synthetic(spark, rows, data)
    first_job_s = start_python_workers(spark)
    features = spark.read.parquet(str(data))
    started = time.perf_counter()
    model = pca.fit(sum_rows(features), 0.95, None)
    fitted = time.perf_counter()
    shutil.rmtree(workdir / "pca", ignore_errors=True)
    pca.project(features, model).write.parquet(str(workdir / "pca"))
    done = time.perf_counter()
    print(json.dumps({
        "pca_rows": model.n_rows, "k": model.k, "pca_fit_s": round(fitted - started, 2),
        "pca_project_write_s": round(done - fitted, 2), "scale_pca_s": round(done - started, 2),
        "first_python_job_s": round(first_job_s, 2),
    }))  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main()
