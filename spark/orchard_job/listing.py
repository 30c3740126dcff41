"""Which images make up a run: a recursive listing of --input united with the URIs of a --manifest.

The listing is collected to the driver once (paths and metadata, not bytes), so every later stage sees
the same image set. Every listed image ends in the PCA snapshot or in rejects; the ones rejected here
(missing, not inside a label folder) never reach the decoder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_job import storage

IMAGE_PATTERN = r"(?i)\.(jpe?g|png)$"
IMAGE_GLOB = "*.{[jJ][pP][gG],[jJ][pP][eE][gG],[pP][nN][gG]}"  # the same, as a Hadoop file-name glob
NO_LABEL = "image is not inside a label folder (label = parent folder name)"
MISSING = "missing: listed in the manifest but not found in storage"
_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")


@dataclass(frozen=True)
class Image:
    path: str
    label: str
    size: int
    modified_us: int  # modification time, microseconds since the epoch

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.modified_us)


@dataclass(frozen=True)
class Reject:
    path: str
    label: str
    reason: str


@dataclass(frozen=True)
class Listing:
    images: list[Image]
    rejects: list[Reject]
    root: str | None  # --input, fully qualified as Spark prints paths; None for a manifest alone

    @property
    def listed(self) -> int:
        return len(self.images) + len(self.rejects)


def list_images(spark: SparkSession, input_uri: str | None, manifest_uri: str | None) -> Listing:
    root = storage.qualify(spark, input_uri).rstrip("/") if input_uri else None
    found = {row.path: row for row in _list_files(spark, root).collect()} if root else {}
    missing: list[str] = []
    if manifest_uri:
        entries = [storage.normalize(entry) for entry in read_manifest(spark, manifest_uri)]
        outside = [path for path in entries if path not in found and not _under(path, root)]
        existing = [path for path in outside if storage.exists(spark, path)]
        found.update({row.path: row for row in _files_at(spark, existing).collect()})
        missing = [path for path in entries if path not in found]
    images, rejects = [], [Reject(path, label_of(path, root), MISSING) for path in missing]
    for path, row in sorted(found.items()):
        label = label_of(path, root)
        if label:
            images.append(Image(path, label, int(row.size), int(row.modified_us)))
        else:
            rejects.append(Reject(path, label, NO_LABEL))
    return Listing(images, rejects, root)


def label_of(path: str, root: str | None) -> str:
    """Parent folder name; empty when the image sits directly in the input root (or at a bucket's root)."""
    parent = path.rsplit("/", 1)[0]
    if root is not None and parent == root:
        return ""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*|/*)", parent):  # s3://bucket or file:/ is no folder
        return ""
    return parent.rsplit("/", 1)[-1]


def read_manifest(spark: SparkSession, manifest_uri: str) -> list[str]:
    text = storage.read_bytes(spark, manifest_uri).decode("utf-8")
    entries = (line.strip() for line in text.splitlines())
    return sorted({entry for entry in entries if entry and not entry.startswith("#") and is_image(entry)})


def is_image(path: str) -> bool:
    return re.search(IMAGE_PATTERN, path) is not None


def glob_escape(path: str) -> str:
    """Spark treats load() paths as globs; S3 keys may contain glob characters."""
    return _GLOB_CHARS.sub(r"\\\1", path)


def _under(path: str, root: str | None) -> bool:
    return root is not None and path.startswith(root + "/")


def _metadata(files: DataFrame) -> DataFrame:
    return files.select(
        "path", F.col("length").alias("size"), F.unix_micros("modificationTime").alias("modified_us")
    )


def _list_files(spark: SparkSession, root: str) -> DataFrame:
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(glob_escape(root))
    return _metadata(files).filter(F.col("path").rlike(IMAGE_PATTERN))


def _files_at(spark: SparkSession, paths: list[str]) -> DataFrame:
    if not paths:
        return spark.createDataFrame([], "path string, size long, modified_us long")
    return _metadata(spark.read.format("binaryFile").load([glob_escape(path) for path in paths]))
