"""The featurize job: list -> reuse or featurize -> scale + PCA -> Parquet, report, scree plot, model."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from orchard_job import artifact as artifacts
from orchard_job import features as feats
from orchard_job import pca, snapshot, storage
from orchard_job.config import JobConfig
from orchard_job.listing import Image, Listing, Reject, list_images
from orchard_job.model import WeightsError, WeightsSpec
from orchard_job.pca import Sums
from orchard_job.report import Counts, build_report, prefetch_plotting, run_outputs, write_run_files

log = logging.getLogger("orchard")

SESSION_CONF = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Image files are small: charge each a small open cost (not the default 4 MB, ~32 files a task) so
    # splits follow the task slots (spark.sql.files.minPartitionNum below).
    "spark.sql.files.openCostInBytes": str(16 * 1024),
    "spark.sql.execution.arrow.maxRecordsPerBatch": "256",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # run_id=<id> folders are names, whatever they look like (a run id may be all digits).
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}
REJECTS_SCHEMA = "path string, label string, reason string"


class Stages:
    """Wall-clock seconds per stage, for the report and the logs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def with_total(self) -> dict[str, float]:
        return {**self.seconds, "total": time.perf_counter() - self.started}


@dataclass(frozen=True)
class FeatureUpdate:
    reused: int  # taken from the cache (same key, or same content under a new key)
    rejects: list[Reject]  # files that failed to decode
    row_runs: dict[str, str]  # path -> the run whose features/run_id=<id>/ row the snapshot takes
    featurized_paths: frozenset[str]  # decoded and run through the network in this run
    featurized_sums: Sums  # their scale + PCA sums, as the featurize tasks reported them

    @property
    def featurized(self) -> int:
        return len(self.featurized_paths)

    @property
    def feature_runs(self) -> list[str]:
        return sorted(set(self.row_runs.values()))


def run(spark: SparkSession, config: JobConfig) -> dict[str, Any]:
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    # Loading thousands of explicit file paths lists them in a Spark job with one task per path by default.
    listing_tasks = str(4 * spark.sparkContext.defaultParallelism)
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.parallelism", listing_tasks)
    # Split scans into as many tasks as can run at once (cores / spark.task.cpus), not one per core: with
    # multi-core tasks, a second round of tasks pays a second task start-up for nothing.
    spark.conf.set("spark.sql.files.minPartitionNum", str(task_slots(spark)))
    stages, outputs = Stages(), run_outputs(config)
    prefetch_plotting()
    config = replace(config, weights=local_weights(spark, config.weights))
    model = artifacts.describe(config.weights, config.image_size, config.runtime)
    with stages.stage("cache_lookup"):
        previous = snapshot.load(spark, config.output, model.model_id)
    with stages.stage("list"):
        listing = list_images(spark, config.input, config.manifest)
    log.info("listed %d images (%d rejected before decoding)", listing.listed, len(listing.rejects))
    update = update_features(spark, config, model, listing, stages)
    rate = update.featurized / max(stages.seconds.get("featurize", 0.0), 1e-9)
    log.info("featurized %d images (%.1f img/s), reused %d, %d failed to decode",
             update.featurized, rate, update.reused, len(update.rejects))  # fmt: skip
    rejects = listing.rejects + update.rejects
    rows = [(r.path, r.label, r.reason) for r in rejects]
    storage.local_frame(spark, rows, REJECTS_SCHEMA).coalesce(1).write.mode("overwrite").parquet(
        outputs["rejects"]
    )

    rejected_paths = {r.path for r in update.rejects}
    in_pca = [image for image in listing.images if image.path not in rejected_paths]
    current = snapshot_rows(in_pca, update)
    cache = feats.cached_rows(spark, outputs["features"], model.model_id)
    with stages.stage("pca_fit"):
        featurized = {row for row in current if row[0] in update.featurized_paths}  # rows of this run
        sums = snapshot.gather(spark, cache, current, previous, featurized, update.featurized_sums)
        fitted = pca.fit_sums(sums.sums, config.variance, config.k)
    log.info("PCA on %d images: k = %d explains %.2f%% of the variance (sums: %s)",
             fitted.n_rows, fitted.k, 100 * fitted.explained_variance.sum(), sums.source)  # fmt: skip
    with stages.stage("pca_project"):
        # Counted once per row: the projection runs in the write's own tasks (Spark applies a result task's
        # updates once); a shuffle or cache before the write would need another count.
        projected = spark.sparkContext.accumulator(0)
        rows_to_project = feats.current_features(spark, in_pca, cache, update.row_runs)
        pca.project(rows_to_project, fitted, projected).write.mode("overwrite").parquet(outputs["pca"])

    if projected.value != fitted.n_rows:
        raise RuntimeError(f"PCA fitted on {fitted.n_rows} rows but {projected.value} were projected")
    counts = Counts(listing.listed, update.featurized, update.reused, len(rejects), projected.value)
    counts.check()
    with stages.stage("report"):
        report = build_report(spark, config, model, fitted, counts, stages.with_total())
        report["feature_runs"] = update.feature_runs
        report["pca_sums"] = sums.source
        write_run_files(spark, config, report, fitted, model)
        snapshot.save(
            spark, config.output, model.model_id, snapshot.Snapshot(config.run_id, current, sums.sums)
        )
    return report


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


def snapshot_rows(images: list[Image], update: FeatureUpdate) -> set[snapshot.RowId]:
    """The feature row each image takes: its (path, size, modified) and the run that wrote the row."""
    return {(image.path, image.size, image.modified_us, update.row_runs[image.path]) for image in images}


def task_slots(spark: SparkSession) -> int:
    """How many tasks run at once: the cores Spark has over the cores each task takes."""
    task_cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    return max(1, spark.sparkContext.defaultParallelism // max(1, task_cpus))


def update_features(
    spark: SparkSession,
    config: JobConfig,
    model: artifacts.ModelArtifact,
    listing: Listing,
    stages: Stages,
) -> FeatureUpdate:
    """Append what this run featurized or re-keyed to features/run_id=<id>/; the UDF runs once per image."""
    features_uri = run_outputs(config)["features"]
    with stages.stage("cache_lookup"):
        cache = feats.cached_rows(spark, features_uri, model.model_id)
        index = feats.read_index(cache)
        plan = feats.plan(listing.images, index, listing.uploaded)
        listed = listed_scan(listing, plan.pending)
        hashes = feats.content_hashes(spark, plan.pending, listed) if plan.pending and index.hashes else {}
        read = feats.classify(plan.pending, hashes, index)
    reused = plan.reused + read.verified
    row_runs = feats.row_runs(reused, index, hashes)
    rekeyed, fresh = read.rekeyed, read.fresh
    # Rows are appended: a second row under a key this run id already holds would name two contents at once.
    writing = [*fresh, *(image for image, _ in rekeyed)]
    clashes = [i.path for i in writing if config.run_id in index.rows.get(i.key, {}).values()]
    if clashes:
        raise RuntimeError(
            f"run id {config.run_id} already holds a feature row for {clashes[0]} (and {len(clashes) - 1} "
            "more) of the same size and modification time but other content: run again under a new run id"
        )
    if not fresh and not rekeyed:
        return FeatureUpdate(len(reused), [], row_runs, frozenset(), Sums.empty())
    if fresh:
        with stages.stage("model"):
            artifacts.ship(spark, model, config.weights, config.output)
    with stages.stage("featurize"):
        listed = listed_scan(listing, fresh)
        featurized = feats.featurize(spark, fresh, model, config.batch_size, listed)
        new_rows = featurized.rows
        if rekeyed:
            new_rows = new_rows.unionByName(feats.rekeyed_rows(spark, cache, rekeyed))
        destination = storage.join(features_uri, f"run_id={config.run_id}")
        # Appended: a retry under the same run id keeps the rows an earlier attempt wrote (and it reuses).
        feats.to_cache_schema(new_rows, model).write.mode("append").parquet(destination)
    labels = {image.path: image.label for image in fresh}
    failed = [Reject(path, labels[path], reason) for path, reason in featurized.rejects.value]
    failed_paths = {reject.path for reject in failed}
    computed = [image.path for image in fresh if image.path not in failed_paths]
    written = computed + [image.path for image, _ in rekeyed]
    return FeatureUpdate(
        reused=len(reused) + len(rekeyed),
        rejects=failed,
        row_runs=row_runs | {path: config.run_id for path in written},
        featurized_paths=frozenset(computed),
        featurized_sums=featurized.sums.value,
    )


def listed_scan(listing: Listing, wanted: list[Image]) -> DataFrame | None:
    """The listing's files when the wanted images are most of them (one scan beats a lookup per file)."""
    if listing.files is None or not wanted or len(wanted) < 0.5 * len(listing.images):
        return None
    return listing.files
