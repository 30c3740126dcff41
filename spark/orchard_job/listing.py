"""Which files make up a run: every file under --input, united with the files a --manifest names.

The listing (Hadoop's FileSystem on the driver, storage.list_files) sees every file, whatever its name or
size; every file with an image suffix ends in the PCA output or in rejects, every other one is counted in
the report as ignored, by suffix. The ones rejected here (empty, not inside a label folder, gone, refused
manifest entries) never reach the decoder; contents.py reads the bytes of the rest.

Manifest entries are refused unread when their path has '.', '..' or empty segments (to S3 these are plain
characters of a key, but Hadoop's Path resolves or drops them and would read another object, or one
outside the input), and, with --input, when they are not under the input folder.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pyspark.sql import SparkSession

from orchard_contract.images import is_image
from orchard_job import storage
from orchard_job.storage import StoredFile

IMAGE_COLUMNS = "path string, label string, size long, modified_us long"  # an Image as a row
KEY_COLUMNS = ["path", "size", "modified_us"]  # Image.key as columns
NO_LABEL = "image is not inside a label folder (label = parent folder name)"
MISSING = "missing: listed in the manifest but not found in storage"
GONE = "missing: listed, then gone before it was read"
EMPTY = "empty file (0 bytes)"
ODD_SEGMENTS = "key has '.', '..' or empty path segments: a Hadoop path would name another object (not read)"
OUTSIDE_INPUT = "outside --input: listed in the manifest but not under the input folder (not read)"
NO_SUFFIX = "(none)"
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
    root: str | None = None  # the --input folder as Spark prints it; None for a manifest alone
    ignored: dict[str, int] = field(default_factory=dict)  # files without an image suffix, by suffix

    @property
    def listed(self) -> int:
        return len(self.images) + len(self.rejects)


def list_images(spark: SparkSession, input_uri: str | None, manifest_uri: str | None) -> Listing:
    root = storage.qualify(spark, input_uri).rstrip("/") if input_uri else None
    if root is not None and not storage.exists(spark, root):
        raise FileNotFoundError(f"Path does not exist: {root} (--input)")
    stored = storage.list_files(spark, root) if root else []
    found = {file.path: file for file in stored if is_image(file.path)}
    entries = read_manifest(spark, manifest_uri) if manifest_uri else []
    unread = {entry: reason for entry in entries if (reason := refusal(entry, root))}
    wanted = set(entries) - unread.keys() - found.keys()
    if root is None:  # a manifest alone: its entries are looked up wherever they are
        found.update({path: file for path in sorted(wanted) if (file := storage.stat(spark, path))})
    unread |= dict.fromkeys(sorted(wanted - found.keys()), MISSING)
    rejects = [Reject(path, label_of(path, root), reason) for path, reason in unread.items()]
    images = []
    for path, file in sorted(found.items()):
        reason = image_refusal(file, label_of(path, root))
        if reason:
            rejects.append(Reject(path, label_of(path, root), reason))
        else:
            images.append(Image(path, label_of(path, root), file.size, file.modified_us))
    uploaded = frozenset(entry for entry in entries if entry not in unread and entry in found)
    ignored = Counter(suffix_of(file.path) for file in stored if not is_image(file.path))
    return Listing(images, rejects, uploaded, root, dict(sorted(ignored.items())))


def image_refusal(file: StoredFile, label: str) -> str | None:
    """Why a listed image file is not decoded at all, or None."""
    if not label:
        return NO_LABEL
    if file.size == 0:
        return EMPTY
    return None


def suffix_of(path: str) -> str:
    """A file name's suffix in lower case ('.txt'), or NO_SUFFIX ('.DS_Store' and 'README' have none)."""
    return PurePosixPath(path.rsplit("/", 1)[-1]).suffix.lower() or NO_SUFFIX


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
