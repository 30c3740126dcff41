"""The featurize job: list -> reuse or featurize -> scale + PCA -> Parquet, report, scree plot, PCA model."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from orchard_contract.tables import REJECTS_COLUMNS, spark_schema
from orchard_job import artifact as artifacts
from orchard_job import basis, carried_sums, snapshot, storage
from orchard_job.carried_sums import CarriedSums, RowId
from orchard_job.compaction import compact
from orchard_job.config import JobConfig
from orchard_job.feature_cache import FeatureUpdate, cached_rows, update_features
from orchard_job.frames import local_frame, names
from orchard_job.listing import Image, Reject, list_images
from orchard_job.network import WeightsError, WeightsSpec
from orchard_job.output_checks import check_outputs
from orchard_job.report import Counts, build_report, prefetch_plotting, run_outputs, write_run_files
from orchard_job.stages import Stages

log = logging.getLogger("orchard")

SESSION_CONF = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Image files are small: charge each a small open cost (Spark's default, sized for large files, puts few
    # images in a task) so splits follow the task slots (spark.sql.files.minPartitionNum below).
    "spark.sql.files.openCostInBytes": str(16 * 1024),
    "spark.sql.execution.arrow.maxRecordsPerBatch": "256",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # run_id=<id> folders are names, whatever they look like (a run id may be all digits).
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}


def run(spark: SparkSession, config: JobConfig) -> dict[str, Any]:
    configure(spark)
    stages, outputs = Stages(), run_outputs(config)
    prefetch_plotting()
    config = replace(config, weights=local_weights(spark, config.weights))
    network = artifacts.describe(config.weights, config.image_size, config.runtime)
    with stages.stage("cache_lookup"):
        previous = carried_sums.load(spark, config.output, network.network_id)
    with stages.stage("list"):
        listing = list_images(spark, config.input, config.manifest)
    log.info("listed %d images (%d rejected before decoding), ignored other files: %s",
             listing.listed, len(listing.rejects), listing.ignored or "none")  # fmt: skip
    update = update_features(spark, config, network, listing, stages)
    rate = update.featurized / max(stages.seconds.get("featurize", 0.0), 1e-9)
    log.info("featurized %d images (%.1f img/s), reused %d, %d failed to decode",
             update.featurized, rate, update.reused, len(update.rejects))  # fmt: skip
    rejects = listing.rejects + update.rejects
    write_rejects(spark, rejects, outputs["rejects"])

    rejected_paths = {r.path for r in update.rejects}
    in_pca = [image for image in listing.images if image.path not in rejected_paths]
    current = current_rows(in_pca, update)
    cache = cached_rows(spark, config.output, network.network_id)
    with stages.stage("compact"):
        compaction = compact(spark, cache, current, config.output, config.run_id)
    current, previous = compaction.rename(current), compaction.rename_carried(previous)
    update = replace(update, row_runs={row[0]: row[3] for row in current})
    if compaction.moved:  # the copies are new files: the cache is listed again
        cache = cached_rows(spark, config.output, network.network_id)
    with stages.stage("pca_fit"):
        featurized = {row for row in current if row[0] in update.featurized_paths}  # rows of this run
        sums = carried_sums.gather_sums(spark, cache, current, previous, featurized, update.featurized_sums)
        carried_basis = basis.load(spark, config.output, previous.run_id) if previous else None
        choice = basis.choose(config, network.network_id, carried_basis, sums.sums)
        model = basis.in_use(choice, len(in_pca))
    log.info("PCA on %d images: k = %d explains %.2f%% of the variance (basis %s, %s; sums: %s)",
             model.n_rows, model.k, 100 * choice.explained_now, choice.basis.basis_id, choice.reason,
             sums.source)  # fmt: skip
    with stages.stage("pca_project"):
        rows = snapshot.write(
            spark, config.output, outputs["pca"], in_pca, cache, update.row_runs, choice, previous
        )
    counts = Counts(listing.listed, update.featurized, update.reused, len(rejects), len(in_pca))
    counts.check()
    with stages.stage("output_checks"):  # row-level rules on the written files; validate reads footers
        checked = check_outputs(spark, outputs["pca"], outputs["rejects"], model.k)
    with stages.stage("report"):
        report = build_report(spark, config, network, model, counts, stages.with_total())
        report["feature_runs"] = update.feature_runs
        report["compaction"] = {"drained_partitions": compaction.drained, "rows_moved": compaction.moved}
        report["ignored"] = listing.ignored
        report["pca_sums"] = sums.source
        report["basis"] = choice.describe(config)
        report["pca_rows"] = rows.describe()
        report["output_checks"] = checked
        write_run_files(spark, config, report, choice.basis, network)
        carried = CarriedSums(config.run_id, current, sums.sums)
        carried_sums.save(spark, config.output, network.network_id, carried)
    return report


def configure(spark: SparkSession) -> None:
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    # Loading thousands of explicit file paths lists them in a Spark job with one task per path by default.
    listing_tasks = str(4 * spark.sparkContext.defaultParallelism)
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.parallelism", listing_tasks)
    # Split scans into as many tasks as can run at once (cores / spark.task.cpus), not one per core: with
    # multi-core tasks, a second round of tasks pays a second task start-up for nothing.
    spark.conf.set("spark.sql.files.minPartitionNum", str(task_slots(spark)))


def local_weights(spark: SparkSession, spec: WeightsSpec) -> WeightsSpec:
    """A weights file named by a URI (s3:// on EMR) is copied to the driver once: Keras loads local files."""
    if spec.kind != "file" or spec.path is None or "://" not in spec.path:
        return spec
    local = Path(tempfile.mkdtemp(prefix="orchard-weights-"), spec.path.rstrip("/").rsplit("/", 1)[-1])
    try:
        local.write_bytes(storage.read_bytes(spark, spec.path))
    except Exception as e:  # py4j raises the JVM's FileNotFoundException or AccessDeniedException
        raise WeightsError(f"cannot read the weights file {spec.path}: {str(e).splitlines()[0]}") from e
    log.info("weights: copied %s to the driver", spec.path)
    return replace(spec, path=str(local))


def write_rejects(spark: SparkSession, rejects: list[Reject], uri: str) -> None:
    rows = [tuple(getattr(reject, name) for name in names(REJECTS_COLUMNS)) for reject in rejects]
    local_frame(spark, rows, spark_schema(REJECTS_COLUMNS)).coalesce(1).write.mode("overwrite").parquet(uri)


def current_rows(images: list[Image], update: FeatureUpdate) -> set[RowId]:
    """The feature row each image takes: its (path, size, modified) and the run that wrote the row."""
    return {(image.path, image.size, image.modified_us, update.row_runs[image.path]) for image in images}


def task_slots(spark: SparkSession) -> int:
    """How many tasks run at once: the cores Spark has over the cores each task takes."""
    task_cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    return max(1, spark.sparkContext.defaultParallelism // max(1, task_cpus))
