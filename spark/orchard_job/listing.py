"""Which images make up a run: a recursive listing of --input united with the URIs of a --manifest.

The listing is collected to the driver once (paths and metadata, not bytes), so every later stage sees
the same image set. Every listed image ends in the PCA output or in rejects; the ones rejected here
(missing or empty, not inside a label folder, refused manifest entries) never reach the decoder. Spark
lists no empty files: an empty file is rejected when a manifest names it, and not listed otherwise.

Manifest entries are refused unread when their path has '.', '..' or empty segments (to S3 these are plain
characters of a key, but Hadoop's Path resolves or drops them and would read another object, or one
outside the input), and, with --input, when they are not under the input folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.images import IMAGE_GLOB, is_image
from orchard_job import storage
from orchard_job.frames import local_frame

IMAGE_COLUMNS = "path string, label string, size long, modified_us long"  # an Image as a row
KEY_COLUMNS = ["path", "size", "modified_us"]  # Image.key as columns
# The listing's own scan serves when at least this share of its images is wanted (one scan beats a lookup
# per file); below it, each file is looked up by path.
LISTING_SCAN_SHARE = 0.5
NO_LABEL = "image is not inside a label folder (label = parent folder name)"
MISSING = "missing: listed in the manifest but not found in storage"
EMPTY = "empty file (0 bytes)"
ODD_SEGMENTS = "key has '.', '..' or empty path segments: a Hadoop path would name another object (not read)"
OUTSIDE_INPUT = "outside --input: listed in the manifest but not under the input folder (not read)"
_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")
_SCHEME_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?")


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
    # Paths the manifest names: just uploaded, so a cached (path, size, modified) does not prove the content
    # (S3 keeps modification times to the second): these are always hashed.
    uploaded: frozenset[str] = frozenset()
    # The image files under --input as a binaryFile DataFrame: it keeps the listing it was created with, so a
    # scan of their contents reuses it instead of listing the input again. None for a manifest alone.
    files: DataFrame | None = None

    @property
    def listed(self) -> int:
        return len(self.images) + len(self.rejects)


def list_images(spark: SparkSession, input_uri: str | None, manifest_uri: str | None) -> Listing:
    root = storage.qualify(spark, input_uri).rstrip("/") if input_uri else None
    files = image_files(spark, root) if root else None
    found = {row.path: row for row in _metadata(files).collect()} if files is not None else {}
    entries = read_manifest(spark, manifest_uri) if manifest_uri else []
    unread = {entry: reason for entry in entries if (reason := refusal(entry, root))}
    wanted = set(entries) - unread.keys() - found.keys()
    if root is None:  # a manifest alone: its entries are looked up wherever they are
        existing = [path for path in sorted(wanted) if storage.exists(spark, path)]
        found.update({row.path: row for row in _files_at(spark, existing).collect()})
    unread |= {path: unlisted(spark, path) for path in sorted(wanted - found.keys())}
    rejects = [Reject(path, label_of(path, root), reason) for path, reason in unread.items()]
    images = []
    for path, row in sorted(found.items()):
        label = label_of(path, root)
        if label:
            images.append(Image(path, label, int(row.size), int(row.modified_us)))
        else:
            rejects.append(Reject(path, label, NO_LABEL))
    uploaded = frozenset(entry for entry in entries if entry not in unread and entry in found)
    return Listing(images, rejects, uploaded, files)


def unlisted(spark: SparkSession, path: str) -> str:
    """Why a manifest entry is not in the listing: gone, or empty (Spark lists no empty files)."""
    return EMPTY if storage.size(spark, path) == 0 else MISSING


def label_of(path: str, root: str | None) -> str:
    """Parent folder name; empty when the image sits directly in the input root (or at a bucket's root)."""
    parent = path.rsplit("/", 1)[0]
    if root is not None and parent == root:
        return ""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*|/*)", parent):  # s3://bucket or file:/ is no folder
        return ""
    return parent.rsplit("/", 1)[-1]


def refusal(entry: str, root: str | None) -> str | None:
    """Why a manifest entry (in Spark's form) is not read at all, or None."""
    if has_odd_segments(entry):
        return ODD_SEGMENTS
    if root is not None and not entry.startswith(root + "/"):
        return OUTSIDE_INPUT
    return None


def has_odd_segments(uri: str) -> bool:
    """'.', '..' or empty segments in the path part of a URI or local path (a leading '/' is not one)."""
    path = _SCHEME_AUTHORITY.sub("", uri, count=1)
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    return any(segment in ("", ".", "..") for segment in segments)


def read_manifest(spark: SparkSession, manifest_uri: str) -> list[str]:
    """The manifest's image entries as Spark prints paths; one with odd segments stays as written."""
    text = storage.read_bytes(spark, manifest_uri).decode("utf-8")
    entries = (line.strip() for line in text.splitlines())
    images = {entry for entry in entries if entry and not entry.startswith("#") and is_image(entry)}
    return sorted(entry if has_odd_segments(entry) else storage.normalize(entry) for entry in images)


def glob_escape(path: str) -> str:
    """Spark treats load() paths as globs; S3 keys may contain glob characters."""
    return _GLOB_CHARS.sub(r"\\\1", path)


def _metadata(files: DataFrame) -> DataFrame:
    return files.select(
        "path", F.col("length").alias("size"), F.unix_micros("modificationTime").alias("modified_us")
    )


def image_files(spark: SparkSession, root: str) -> DataFrame:
    """binaryFile rows of the image files under root, at any depth (listed once, when created)."""
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    return reader.option("pathGlobFilter", IMAGE_GLOB).load(glob_escape(root))


def _files_at(spark: SparkSession, paths: list[str]) -> DataFrame:
    if not paths:
        return spark.createDataFrame([], "path string, size long, modified_us long")
    return _metadata(spark.read.format("binaryFile").load([glob_escape(path) for path in paths]))


def scan_contents(spark: SparkSession, images: list[Image], listing: Listing | None = None) -> DataFrame:
    """path, content of the images' files, split into tasks by bytes (spark.sql.files.openCostInBytes).

    When the images are most of the listing's, one scan of the files it already listed replaces a file
    lookup per path (cheaper, as in a first run); the scan may then also hold files that are not among them.
    """
    if not images:
        return spark.createDataFrame([], "path string, content binary")
    files = _listed_files(images, listing)
    if files is None:
        files = spark.read.format("binaryFile").load([glob_escape(image.path) for image in images])
    return files.select("path", "content")


def load_contents(spark: SparkSession, images: list[Image], listing: Listing | None = None) -> DataFrame:
    """path, content for exactly these images."""
    files = scan_contents(spark, images, listing)
    if _listed_files(images, listing) is None:
        return files
    wanted = local_frame(spark, [(image.path,) for image in images], "path string")
    return files.join(F.broadcast(wanted), "path", "left_semi")


def _listed_files(images: list[Image], listing: Listing | None) -> DataFrame | None:
    if listing is None or listing.files is None or len(images) < LISTING_SCAN_SHARE * len(listing.images):
        return None
    return listing.files
