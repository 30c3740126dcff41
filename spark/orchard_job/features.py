"""Incremental featurization: reuse cached features, decode + run the network only on new content.

Lookup order, planned on the driver from a small index of the cache (no feature vectors): the same
(path, size, modified) with the same model id is reused without reading the file, unless the run's manifest
names the path (just uploaded: it may be an overwrite within the same second); otherwise the file is read and
hashed, and content featurized before with this model (same sha256) is re-keyed under the new path; only
content never featurized with this model reaches the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import Accumulator, AccumulatorParam, TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_job import storage
from orchard_job.artifact import ModelArtifact
from orchard_job.batches import featurize_stream
from orchard_job.listing import Image, glob_escape
from orchard_job.pca import Sums, SumsParam, TaskSums, max_sum_tasks, vectors
from orchard_job.runtime import get_featurizer

IMAGES_SCHEMA = "path string, label string, size long, modified_us long"
FEATURIZED_COLUMNS = ["path", "label", "size", "modified_us", "content_sha256", "features"]
FEATURIZED_SCHEMA = IMAGES_SCHEMA + ", content_sha256 string, features array<float>"
KEY = ["path", "size", "modified_us"]
CACHE_SCHEMA = (
    "path string, label string, features array<float>, content_sha256 string, size long, modified timestamp, "
    "model_id string, weights_id string, image_size int, runtime string, run_id string"
)


@dataclass(frozen=True)
class CacheIndex:
    rows: dict[tuple[str, int, int], dict[str, str]]  # (path, size, modified_us) -> {content_sha256: run_id}
    hashes: set[str]


@dataclass(frozen=True)
class Plan:
    reused: list[Image]  # same path, size and modification time as a cached row: not read
    pending: list[Image]  # to read: re-keyed when their content is cached, featurized otherwise


def cached_rows(spark: SparkSession, features_uri: str, model_id: str) -> DataFrame | None:
    if not storage.exists(spark, features_uri):
        return None
    # The schema is known (to_cache_schema): giving it spares a job that reads every file's footer.
    rows = spark.read.schema(CACHE_SCHEMA).parquet(features_uri).filter(F.col("model_id") == model_id)
    return rows.withColumn("modified_us", F.unix_micros("modified"))


def read_index(cache: DataFrame | None) -> CacheIndex:
    rows: dict[tuple[str, int, int], dict[str, str]] = {}
    if cache is None:
        return CacheIndex(rows, set())
    for r in cache.select(*KEY, "content_sha256", "run_id").collect():
        rows.setdefault((r.path, r.size, r.modified_us), {})[r.content_sha256] = r.run_id
    return CacheIndex(rows, {sha for by_hash in rows.values() for sha in by_hash})


def plan(images: list[Image], index: CacheIndex, uploaded: frozenset[str] = frozenset()) -> Plan:
    trusted = [image.key in index.rows and image.path not in uploaded for image in images]
    return Plan(
        [image for image, ok in zip(images, trusted, strict=True) if ok],
        [image for image, ok in zip(images, trusted, strict=True) if not ok],
    )


@dataclass(frozen=True)
class ReadPlan:
    """What the pending images turned out to be once hashed."""

    verified: list[Image]  # same key and same content as a cached row: reused as is
    rekeyed: list[tuple[Image, str]]  # content cached under another key: its row is copied under this key
    fresh: list[Image]  # content never featurized with this model


def classify(pending: list[Image], hashes: dict[str, str], index: CacheIndex) -> ReadPlan:
    read = ReadPlan([], [], [])
    for image in pending:
        sha = hashes.get(image.path)
        if sha in index.rows.get(image.key, {}):
            read.verified.append(image)
        elif sha is not None and sha in index.hashes:
            read.rekeyed.append((image, sha))
        else:
            read.fresh.append(image)
    return read


def row_runs(images: list[Image], index: CacheIndex, hashes: dict[str, str]) -> dict[str, str]:
    """path -> the run whose cached row each reused image takes.

    That is the row of the content read, when this run read the file; otherwise the newest run's row (default
    run ids sort by time), in case an overwrite that kept the key left rows of two runs under it.
    """
    runs = {}
    for image in images:
        by_hash = index.rows[image.key]
        sha = hashes.get(image.path)
        runs[image.path] = by_hash[sha] if sha in by_hash else max(by_hash.values())
    return runs


def scan_contents(spark: SparkSession, images: list[Image], listed: DataFrame | None = None) -> DataFrame:
    """path, content of the images' files, split into tasks by bytes (spark.sql.files.openCostInBytes).

    With `listed` (the listing's DataFrame of every image under --input), one scan of the files it already
    listed replaces a file lookup per path: cheaper when most of them are wanted, as in a first run. It may
    then also hold files that are not among the images.
    """
    if not images:
        return spark.createDataFrame([], "path string, content binary")
    if listed is None:
        listed = spark.read.format("binaryFile").load([glob_escape(image.path) for image in images])
    return listed.select("path", "content")


def load_contents(spark: SparkSession, images: list[Image], listed: DataFrame | None = None) -> DataFrame:
    """path, content for exactly these images."""
    files = scan_contents(spark, images, listed)
    if listed is None:
        return files
    wanted = storage.local_frame(spark, [(image.path,) for image in images], "path string")
    return files.join(F.broadcast(wanted), "path", "left_semi")


def content_hashes(spark: SparkSession, images: list[Image], listed: DataFrame | None) -> dict[str, str]:
    hashed = load_contents(spark, images, listed).select("path", F.sha2("content", 256).alias("sha"))
    return {row.path: row.sha for row in hashed.collect()}


def rekeyed_rows(spark: SparkSession, cache: DataFrame, rekeyed: list[tuple[Image, str]]) -> DataFrame:
    """Cached features of known content under the new (path, size, modified) keys."""
    rows = storage.local_frame(
        spark,
        [(i.path, i.label, i.size, i.modified_us, sha) for i, sha in rekeyed],
        IMAGES_SCHEMA + ", content_sha256 string",
    )
    by_hash = cache.select("content_sha256", "features").dropDuplicates(["content_sha256"])
    return rows.join(by_hash, "content_sha256").select(*FEATURIZED_COLUMNS)


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
    sums: Accumulator[Sums]  # scale + PCA partial sums over the feature rows, as written


def featurize(
    spark: SparkSession,
    images: list[Image],
    artifact: ModelArtifact,
    batch_size: int,
    listed: DataFrame | None,
) -> Featurized:
    """Decode and run the network on the images' bytes as the scan streams them (no shuffle of file bytes)."""
    size, runtime, file_name = artifact.image_size, artifact.runtime, artifact.file_name
    rejects = spark.sparkContext.accumulator([], RejectsParam())
    sums = spark.sparkContext.accumulator(Sums.empty(), SumsParam())
    # The keys travel with the function (Spark broadcasts a large one): no join to bring labels back.
    keys = {image.path: (image.label, image.size, image.modified_us) for image in images}
    scan = scan_contents(spark, images, listed)
    sum_rows = scan.rdd.getNumPartitions() <= max_sum_tasks(spark)  # otherwise the fit reads the rows back

    def run_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        threads = network_threads()
        artifact_path = ModelArtifact("", {}, size, runtime, file_name).worker_path()
        network = get_featurizer(artifact_path, runtime, threads, batch_size)
        known = pa.array(list(keys), pa.string())
        wanted = (batch.filter(pc.is_in(batch.column("path"), value_set=known)) for batch in batches)
        running = TaskSums()
        for computed, failed in featurize_stream(wanted, network, size, threads):
            rejects.add(failed)
            if sum_rows:
                running.add(vectors(computed, "features"))
            yield with_keys(computed, keys)
        running.report(sums)

    return Featurized(scan.mapInArrow(run_partition, FEATURIZED_SCHEMA), rejects, sums)


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


def to_cache_schema(df: DataFrame, artifact: ModelArtifact) -> DataFrame:
    """The feature-cache table: this select is the schema contract."""
    return df.select(
        "path",
        "label",
        F.col("features").cast("array<float>").alias("features"),
        "content_sha256",
        "size",
        F.timestamp_micros("modified_us").alias("modified"),
        F.lit(artifact.model_id).alias("model_id"),
        F.lit(artifact.weights["id"]).alias("weights_id"),
        F.lit(artifact.image_size).alias("image_size"),
        F.lit(artifact.runtime).alias("runtime"),
    )


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
    wanted = storage.local_frame(spark, rows, IMAGES_SCHEMA + ", run_id string")
    features = cache.select(*KEY, "run_id", "features")
    return features.join(F.broadcast(wanted), [*KEY, "run_id"]).select("path", "label", "features")
