"""The incremental feature cache, features/run_id=<id>/: what a run reuses, and the rows it appends.

cache_plan decides, from an index of the cache, which images are reused, re-keyed or fresh; this module
reads that index and the hashes the plan asks for, runs the inference UDF on the fresh images only, and
appends the new rows under this run's id. Rows are only ever appended, so a retry under the same run id keeps
the rows an earlier attempt wrote (and reuses them). Later stages read the rows back from here: one row per
image, named by its key and the run that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.layout import run_path
from orchard_contract.tables import FEATURES, FEATURES_COLUMNS, RUN_PARTITION, spark_schema
from orchard_job import artifact as artifacts
from orchard_job import cache_plan, storage
from orchard_job.artifact import NetworkArtifact
from orchard_job.cache_plan import CacheIndex, CachePlan
from orchard_job.config import JobConfig
from orchard_job.contents import load_contents
from orchard_job.frames import conform, local_frame
from orchard_job.inference import FEATURIZED_COLUMNS, featurize
from orchard_job.listing import GONE, IMAGE_COLUMNS, KEY_COLUMNS, Image, Listing, Reject
from orchard_job.stages import Stages
from orchard_job.sums import Sums

CACHE_COLUMNS = FEATURES_COLUMNS + RUN_PARTITION  # the table's columns, with the run_id of the folders


@dataclass(frozen=True)
class FeatureUpdate:
    reused: int  # taken from the cache (same key, or same content under a new key)
    rejects: list[Reject]  # files that failed to decode, or were gone when read
    row_runs: dict[str, str]  # path -> the run whose features/run_id=<id>/ row the current rows take
    featurized_paths: frozenset[str]  # decoded and run through the network in this run
    featurized_sums: Sums  # their scale + PCA sums, as the featurize tasks reported them

    @property
    def featurized(self) -> int:
        return len(self.featurized_paths)

    @property
    def feature_runs(self) -> list[str]:
        return sorted(set(self.row_runs.values()))


def cache_uri(output: str) -> str:
    return storage.join(output, FEATURES.dataset)


def cached_rows(spark: SparkSession, output: str, network_id: str) -> DataFrame | None:
    features_uri = cache_uri(output)
    if not storage.exists(spark, features_uri):
        return None
    # The schema is the contract's: giving it spares a job that reads every file's footer.
    rows = spark.read.schema(spark_schema(CACHE_COLUMNS)).parquet(features_uri)
    rows = rows.filter(F.col("model_id") == network_id)
    return rows.withColumn("modified_us", F.unix_micros("modified"))


def read_index(cache: DataFrame | None) -> CacheIndex:
    if cache is None:
        return CacheIndex.of([])
    # Through Arrow (the session enables it): collect() would unpickle a Row per cached row.
    index = cast(pd.DataFrame, cache.select(*KEY_COLUMNS, "content_sha256", "run_id").toPandas())
    return CacheIndex.of(zip(*(index[column].tolist() for column in index.columns), strict=True))


def update_features(
    spark: SparkSession, config: JobConfig, network: NetworkArtifact, listing: Listing, stages: Stages
) -> FeatureUpdate:
    """Append what this run featurized or re-keyed to features/run_id=<id>/; the UDF runs once per image."""
    with stages.stage("cache_lookup"):
        cache = cached_rows(spark, config.output, network.network_id)
        index = read_index(cache)
        lookup = cache_plan.look_up(listing.images, index, listing.uploaded)
        hashes = content_hashes(spark, lookup.to_read, listing) if lookup.to_read and index.hashes else {}
        plan = cache_plan.decide(lookup, hashes, index)
    clashes = cache_plan.clashes(plan, index, config.run_id)
    if clashes:
        raise RuntimeError(
            f"run id {config.run_id} already holds a feature row for {clashes[0]} (and {len(clashes) - 1} "
            "more) of the same size and modification time but other content: run again under a new run id"
        )
    if not plan.writing:
        return FeatureUpdate(len(plan.reused), [], plan.row_runs, frozenset(), Sums.empty())
    if plan.fresh:
        with stages.stage("model"):
            artifacts.ship(spark, network, config.weights, config.output)
    with stages.stage("featurize"):
        featurized = featurize(spark, plan.fresh, network, config.batch_size, listing)
        new_rows = featurized.rows
        if plan.rekeyed:
            new_rows = new_rows.unionByName(rekeyed_rows(spark, cache, plan.rekeyed))
        destination = run_path(config.output, FEATURES.dataset, config.run_id)
        # Appended: a retry under the same run id keeps the rows an earlier attempt wrote (and it reuses).
        to_cache_table(new_rows, network).write.mode("append").parquet(destination)
    failed = featurized.rejects.value
    if featurized.delivered.value + len(failed) < len(plan.fresh):
        failed = failed + gone_since_listing(spark, destination, plan.fresh, failed)
    return finished(plan, config.run_id, failed, featurized.sums.value)


def gone_since_listing(
    spark: SparkSession, written_to: str, fresh: list[Image], failed: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(path, GONE) of the fresh images that got neither a row nor a decode error: no longer there to read."""
    accounted = {path for path, _ in failed}
    accounted |= {row.path for row in spark.read.parquet(written_to).select("path").distinct().collect()}
    return [(image.path, GONE) for image in fresh if image.path not in accounted]


def finished(plan: CachePlan, run_id: str, failed: list[tuple[str, str]], sums: Sums) -> FeatureUpdate:
    """The update once the rows are written: `failed` (path, reason) failed to decode and got no row."""
    labels = {image.path: image.label for image in plan.fresh}
    failed_paths = {path for path, _ in failed}
    return FeatureUpdate(
        reused=len(plan.reused) + len(plan.rekeyed),
        rejects=[Reject(path, labels[path], reason) for path, reason in failed],
        row_runs=plan.row_runs_after(run_id, failed_paths),
        featurized_paths=frozenset(i.path for i in plan.fresh if i.path not in failed_paths),
        featurized_sums=sums,
    )


def content_hashes(spark: SparkSession, images: list[Image], listing: Listing) -> dict[str, str]:
    hashed = load_contents(spark, images, listing).select("path", F.sha2("content", 256).alias("sha"))
    return {row.path: row.sha for row in hashed.collect()}


def rekeyed_rows(spark: SparkSession, cache: DataFrame | None, rekeyed: list[tuple[Image, str]]) -> DataFrame:
    """Cached features of known content under the new (path, size, modified) keys."""
    assert cache is not None, "content is re-keyed only from a cache that holds it"
    rows = local_frame(
        spark,
        [(i.path, i.label, i.size, i.modified_us, sha) for i, sha in rekeyed],
        IMAGE_COLUMNS + ", content_sha256 string",
    )
    by_hash = cache.select("content_sha256", "features").dropDuplicates(["content_sha256"])
    return rows.join(by_hash, "content_sha256").select(*FEATURIZED_COLUMNS)


def to_cache_table(rows: DataFrame, network: NetworkArtifact) -> DataFrame:
    """Featurized rows as the feature cache's rows: the contract's columns, filled here."""
    filled = rows.withColumns(
        {
            "modified": F.timestamp_micros("modified_us"),
            "model_id": F.lit(network.network_id),
            "weights_id": F.lit(network.weights["id"]),
            "image_size": F.lit(network.image_size),
            "runtime": F.lit(network.runtime),
        }
    )
    return conform(filled, FEATURES_COLUMNS)


def current_features(
    spark: SparkSession, images: list[Image], cache: DataFrame | None, runs: dict[str, str]
) -> DataFrame | None:
    """One cached feature row per listed image: path, label, features (read back from Parquet).

    `runs` (path -> run id) names the row each image takes, so a broadcast join on the key and the run id
    picks exactly one row per image (an overwrite that kept the key leaves rows of two runs under it).
    """
    if cache is None or not images:
        return None
    rows = [(i.path, i.label, i.size, i.modified_us, runs[i.path]) for i in images]
    wanted = local_frame(spark, rows, IMAGE_COLUMNS + ", run_id string")
    in_runs = F.col("run_id").isin(sorted({runs[i.path] for i in images}))  # scans only those runs' folders
    features = cache.filter(in_runs).select(*KEY_COLUMNS, "run_id", "features")
    return features.join(F.broadcast(wanted), [*KEY_COLUMNS, "run_id"]).select("path", "label", "features")
