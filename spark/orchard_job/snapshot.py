"""A run's published rows, pca/run_id=<id>/: one per current image, every one in the run's basis.

A run that refit its basis projects every current image. A run that kept the basis of the run its carried
sums come from copies that run's rows for the images that did not change (the same feature row: same path,
size, modification time and writing run, so the same vector in the same basis) and projects only the images
that entered or changed. Either way the snapshot equals a full projection with the basis
(tests/integration/test_job_basis.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.layout import run_path
from orchard_contract.tables import PCA, PCA_COLUMNS, spark_schema
from orchard_job import pca, storage
from orchard_job.basis import BasisChoice
from orchard_job.carried_sums import CarriedSums
from orchard_job.feature_cache import current_features
from orchard_job.frames import conform, local_frame
from orchard_job.listing import Image

log = logging.getLogger("orchard")

ROWS_PER_FILE = 50_000


class SnapshotError(RuntimeError):
    """The written rows are not one per current image."""


@dataclass(frozen=True)
class SnapshotRows:
    projected: int
    copied: int
    copied_from: str | None  # the run whose rows were copied

    def describe(self) -> dict[str, int | str | None]:
        return {"projected": self.projected, "copied": self.copied, "copied_from": self.copied_from}


def write(
    spark: SparkSession,
    output: str,
    uri: str,
    images: list[Image],
    cache: DataFrame | None,
    row_runs: dict[str, str],
    choice: BasisChoice,
    previous: CarriedSums | None,
) -> SnapshotRows:
    """Write the rows of `images` (the current images) in the chosen basis to `uri`; check their count."""
    source = copy_source(spark, output, uri, choice, previous)
    unchanged: set[str] = set()
    if source is not None and previous is not None:
        # The same feature row (key and the run that wrote it, both renamed alike by compaction): a key alone
        # could name new content (an overwrite keeping size and modification time, named by a manifest).
        unchanged = {i.path for i in images if (*i.key, row_runs[i.path]) in previous.rows}
    entered = [image for image in images if image.path not in unchanged]
    model = choice.basis.model
    projected = spark.sparkContext.accumulator(0)  # counted in the write's own tasks: once per row
    features = current_features(spark, entered, cache, row_runs)
    parts = []
    if features is not None:
        rows = pca.project(features, model, projected)
        parts.append(rows.withColumn("basis_id", F.lit(choice.basis.basis_id)))
    if unchanged and source is not None and previous is not None:
        left = sorted({row[0] for row in previous.rows} - unchanged)
        parts.append(copied_rows(spark, source, left, choice.basis.basis_id))
    if not parts:  # no image in the PCA: the table is written all the same, empty
        parts.append(local_frame(spark, [], spark_schema(PCA_COLUMNS)))
    table = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    # Files follow the row count (not the inputs' partitions: copies and projections would add up run by run).
    files = min(max(1, -(-len(images) // ROWS_PER_FILE)), spark.sparkContext.defaultParallelism)
    conform(table, PCA_COLUMNS).coalesce(files).write.mode("overwrite").parquet(uri)

    written = spark.read.schema(spark_schema(PCA_COLUMNS)).parquet(uri).count()  # footers only
    if projected.value != len(entered) or written != len(images):
        raise SnapshotError(
            f"{written} rows written for {len(images)} current images "
            f"({projected.value} projected of {len(entered)}, {len(unchanged)} to copy)"
        )
    copied_from = previous.run_id if unchanged and previous is not None else None
    return SnapshotRows(projected.value, len(unchanged), copied_from)


def copy_source(
    spark: SparkSession, output: str, own: str, choice: BasisChoice, previous: CarriedSums | None
) -> str | None:
    """The previous run's published rows, when they are in the basis this run keeps (a retry under the
    same run id projects: its folder is the one it overwrites)."""
    if not choice.kept or previous is None:
        return None
    uri = run_path(output, PCA.dataset, previous.run_id)
    if uri == own:
        return None
    if not storage.exists(spark, uri):
        log.warning("the rows of run %s are gone: projecting every image in the kept basis", previous.run_id)
        return None
    return uri


def copied_rows(spark: SparkSession, source: str, left: list[str], basis_id: str) -> DataFrame:
    """The source's rows but those of images that left or changed; a row in another basis fails the run."""
    rows = spark.read.schema(spark_schema(PCA_COLUMNS)).parquet(source)
    in_basis = F.col("basis_id") == F.lit(basis_id)
    failure = F.raise_error(F.concat(F.lit(f"a copied row is not in basis {basis_id}: "), F.col("path")))
    rows = rows.withColumn("basis_id", F.when(in_basis, F.col("basis_id")).otherwise(failure))
    if left:
        gone = local_frame(spark, [(path,) for path in left], "path string")
        rows = rows.join(F.broadcast(gone), "path", "left_anti")
    return rows
