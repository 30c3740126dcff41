"""Incremental featurization: reuse cached features, decode + run the network only on new content.

Lookup order, planned on the driver from a small index of the cache (no feature vectors): the same
(path, size, modified) with the same model id is reused without reading the file, unless the run's manifest
names the path (just uploaded: it may be an overwrite within the same second); otherwise the file is read and
hashed, and content featurized before with this model (same sha256) is re-keyed under the new path; only
content never featurized with this model reaches the network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_job import storage
from orchard_job.artifact import ModelArtifact
from orchard_job.decode import DecodeError, decode_image
from orchard_job.listing import IMAGE_GLOB, Image, glob_escape
from orchard_job.model import FEATURE_DIM
from orchard_job.runtime import Featurizer, get_featurizer

IMAGES_SCHEMA = "path string, label string, size long, modified_us long"
COMPUTED_SCHEMA = "path string, content_sha256 string, features array<float>, error string"
FEATURIZED_SCHEMA_COLUMNS = ["path", "label", "size", "modified_us", "content_sha256", "features", "error"]
KEY = ["path", "size", "modified_us"]


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
    rows = spark.read.parquet(features_uri).filter(F.col("model_id") == model_id)
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


def runs_of(images: list[Image], index: CacheIndex, hashes: dict[str, str]) -> set[str]:
    """The runs whose cached rows these reused images take (the row of the read content when it was read)."""
    runs = set()
    for image in images:
        by_hash = index.rows[image.key]
        runs |= {by_hash[hashes[image.path]]} if image.path in hashes else set(by_hash.values())
    return runs


def images_frame(spark: SparkSession, images: list[Image]) -> DataFrame:
    rows = [(i.path, i.label, i.size, i.modified_us) for i in images]
    return storage.local_frame(spark, rows, IMAGES_SCHEMA)


def load_contents(spark: SparkSession, images: list[Image], root: str | None = None) -> DataFrame:
    """path, content for the images, split into tasks by bytes (spark.sql.files.openCostInBytes).

    With `root`, one recursive scan of it (semi-joined to the images) replaces a file lookup per path:
    cheaper when most of the root's images are wanted, as in a first run.
    """
    if not images:
        return spark.createDataFrame([], "path string, content binary")
    if root is None:
        files = spark.read.format("binaryFile").load([glob_escape(image.path) for image in images])
        return files.select("path", "content")
    files = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IMAGE_GLOB)
        .load(glob_escape(root))
    )
    wanted = storage.local_frame(spark, [(image.path,) for image in images], "path string")
    return files.select("path", "content").join(F.broadcast(wanted), "path", "left_semi")


def content_hashes(spark: SparkSession, images: list[Image], root: str | None) -> dict[str, str]:
    hashed = load_contents(spark, images, root).select("path", F.sha2("content", 256).alias("sha"))
    return {row.path: row.sha for row in hashed.collect()}


def rekeyed_rows(spark: SparkSession, cache: DataFrame, rekeyed: list[tuple[Image, str]]) -> DataFrame:
    """Cached features of known content under the new (path, size, modified) keys."""
    rows = storage.local_frame(
        spark,
        [(i.path, i.label, i.size, i.modified_us, sha) for i, sha in rekeyed],
        IMAGES_SCHEMA + ", content_sha256 string",
    )
    by_hash = cache.select("content_sha256", "features").dropDuplicates(["content_sha256"])
    return rows.join(by_hash, "content_sha256").select(*FEATURIZED_SCHEMA_COLUMNS[:-1])


def featurize(
    spark: SparkSession, images: list[Image], artifact: ModelArtifact, batch_size: int, root: str | None
) -> DataFrame:
    """Decode and run the network on the images' bytes as the scan streams them (no shuffle of file bytes);
    rows that fail to decode carry `error` (the reject reason). Labels and keys join back on the path."""
    size, runtime, file_name = artifact.image_size, artifact.runtime, artifact.file_name

    def run_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        context = TaskContext.get()
        threads = max(1, int(context.cpus())) if context else 1
        artifact_path = ModelArtifact("", {}, size, runtime, file_name).worker_path()
        network = get_featurizer(artifact_path, runtime, threads, batch_size)
        with ThreadPoolExecutor(threads) as decoders:  # Pillow releases the GIL while decoding
            for batch in batches:
                yield featurize_batch(batch, network, size, decoders)

    computed = load_contents(spark, images, root).mapInArrow(run_partition, COMPUTED_SCHEMA)
    keys = F.broadcast(images_frame(spark, images))
    return computed.join(keys, "path").select(*FEATURIZED_SCHEMA_COLUMNS)


def _decode_or_reason(data: bytes | None, size: int) -> np.ndarray | str:
    try:
        return decode_image(data, size)
    except DecodeError as e:
        return str(e)


def featurize_batch(
    batch: pa.RecordBatch, network: Featurizer, size: int, decoders: ThreadPoolExecutor
) -> pa.RecordBatch:
    contents = batch.column("content").to_pylist()
    results = list(decoders.map(lambda data: _decode_or_reason(data, size), contents))
    errors = [result if isinstance(result, str) else None for result in results]
    ok_rows = [row for row, result in enumerate(results) if not isinstance(result, str)]
    decoded = [results[row] for row in ok_rows]
    vectors = network(np.stack(decoded)) if decoded else np.empty((0, FEATURE_DIM), np.float32)
    hashes = pa.array([hashlib.sha256(data or b"").hexdigest() for data in contents], pa.string())
    features = list_column(vectors, ok_rows, len(contents))
    return pa.RecordBatch.from_arrays(
        [batch.column("path"), hashes, features, pa.array(errors, pa.string())],
        names=["path", "content_sha256", "features", "error"],
    )


def list_column(vectors: np.ndarray, ok_rows: list[int], total: int) -> pa.Array:
    """list<float> with the vectors at `ok_rows` and nulls elsewhere, built without per-float Python work."""
    lengths = np.zeros(total, dtype=np.int32)
    lengths[ok_rows] = FEATURE_DIM
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    mask = np.ones(total, dtype=bool)
    mask[ok_rows] = False
    values = pa.array(vectors.reshape(-1).astype(np.float32), pa.float32())
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(mask))


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
    spark: SparkSession, images: list[Image], cache: DataFrame | None, hashes: dict[str, str]
) -> DataFrame | None:
    """One cached feature row per listed image: path, label, features (read back from Parquet).

    `hashes` (path -> sha256 of the content read in this run) picks the right row when an overwrite kept the
    key: the old content's row has the same (path, size, modified) but another hash.
    """
    if cache is None or not images:
        return None
    rows = [(i.path, i.label, i.size, i.modified_us, hashes.get(i.path)) for i in images]
    wanted = storage.local_frame(spark, rows, IMAGES_SCHEMA + ", read_sha256 string")
    candidates = wanted.join(cache.select(*KEY, "content_sha256", "features"), KEY, "inner")
    read = F.col("read_sha256")
    matching = candidates.filter(read.isNull() | (read == F.col("content_sha256")))
    return matching.dropDuplicates(KEY).select("path", "label", "features")
