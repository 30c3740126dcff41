"""The inference UDF: the images' bytes as the scan streams them -> decode -> the network -> feature rows.

One pass and no shuffle of file bytes: each task decodes its Arrow batches and runs the network on them
(batches.featurize_stream), with the network loaded once per Python worker (runtime.get_featurizer). What
the tasks learn besides the rows (files that failed to decode, the sums over the rows) comes back to the
driver through accumulators, once the rows are written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import Accumulator, AccumulatorParam, TaskContext
from pyspark.sql import DataFrame, SparkSession

from orchard_job.artifact import NetworkArtifact
from orchard_job.batches import featurize_stream
from orchard_job.contents import scan_contents
from orchard_job.listing import IMAGE_COLUMNS, Image, Listing
from orchard_job.runtime import get_featurizer
from orchard_job.sums import Sums, SumsParam, TaskSums, max_sum_tasks, vectors

# A featurized image as a row: its key and label, the sha256 of its bytes, its features.
FEATURIZED_COLUMNS = ["path", "label", "size", "modified_us", "content_sha256", "features"]
FEATURIZED_SCHEMA = IMAGE_COLUMNS + ", content_sha256 string, features array<float>"


class RejectsParam(AccumulatorParam[list[tuple[str, str]]]):
    """(path, reason) pairs gathered from the tasks; a retried task adds the same pairs again, so dedupe."""

    def zero(self, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return []

    def addInPlace(  # noqa: N802 - pyspark's name
        self, value1: list[tuple[str, str]], value2: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        return sorted({*value1, *value2})


@dataclass(frozen=True)
class Featurized:
    """Feature rows, and what the tasks report about them once an action has consumed them."""

    rows: DataFrame
    rejects: Accumulator[list[tuple[str, str]]]  # (path, reason) of every file that failed to decode
    delivered: Accumulator[int]  # feature rows computed (a file gone since the listing gives none)
    sums: Accumulator[Sums]  # scale + PCA sums over the feature rows, as written


def featurize(
    spark: SparkSession,
    images: list[Image],
    network: NetworkArtifact,
    batch_size: int,
    listing: Listing | None,
) -> Featurized:
    """Decode and run the network on the images' bytes as the scan streams them (no shuffle of file bytes)."""
    size, runtime, file_name = network.image_size, network.runtime, network.file_name
    rejects = spark.sparkContext.accumulator([], RejectsParam())
    sums = spark.sparkContext.accumulator(Sums.empty(), SumsParam())
    delivered = spark.sparkContext.accumulator(0)
    # The keys travel with the function (Spark broadcasts a large one): no join to bring labels back.
    keys = {image.path: (image.label, image.size, image.modified_us) for image in images}
    scan = scan_contents(spark, images, listing)
    report_sums = scan.rdd.getNumPartitions() <= max_sum_tasks(spark)  # otherwise the fit reads rows back

    def run_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        threads = network_threads()
        artifact_path = NetworkArtifact("", {}, size, runtime, file_name).worker_path()
        featurizer = get_featurizer(artifact_path, runtime, threads, batch_size)
        known = pa.array(list(keys), pa.string())
        wanted = (batch.filter(pc.is_in(batch.column("path"), value_set=known)) for batch in batches)
        running = TaskSums()
        for computed, failed in featurize_stream(wanted, featurizer, size, threads):
            rejects.add(failed)
            delivered.add(computed.num_rows)
            if report_sums:
                running.add(vectors(computed, "features"))
            yield with_keys(computed, keys)
        running.report(sums)

    return Featurized(scan.mapInArrow(run_partition, FEATURIZED_SCHEMA), rejects, delivered, sums)


def with_keys(computed: pa.RecordBatch, keys: dict[str, tuple[str, int, int]]) -> pa.RecordBatch:
    """The computed rows with their label, size and modification time, in FEATURIZED_COLUMNS' order."""
    rows = [keys[path] for path in computed.column("path").to_pylist()]
    columns = [
        computed.column("path"),
        pa.array([label for label, _, _ in rows], pa.string()),
        pa.array([size for _, size, _ in rows], pa.int64()),
        pa.array([modified for _, _, modified in rows], pa.int64()),
        computed.column("content_sha256"),
        computed.column("features"),
    ]
    return pa.RecordBatch.from_arrays(columns, names=FEATURIZED_COLUMNS)


def network_threads() -> int:
    context = TaskContext.get()
    return max(1, int(context.cpus())) if context else 1
