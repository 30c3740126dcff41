"""Small-file I/O through Hadoop's FileSystem: the driver reads and writes s3:// (EMRFS) and file:// alike."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyspark only where Spark runs: the image build imports this module without it
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class StoredFile:
    path: str  # as Spark prints paths (Hadoop's Path.toString)
    size: int
    modified_us: int  # modification time, microseconds since the epoch (Hadoop keeps milliseconds)


def list_files(spark: SparkSession, uri: str) -> list[StoredFile]:
    """Every file under uri at any depth, whatever its name or size.

    Hadoop's FileSystem on the driver, folder by folder: Spark's file index (and so a binaryFile listing)
    skips names it takes for hidden or metadata files (a leading '.' or '_', '._COPYING_'), whole folders of
    them included, and empty files.
    """
    fs, root = _fs_path(spark, uri)
    files, folders = [], [root]
    while folders:
        for status in fs.listStatus(folders.pop()):
            if status.isDirectory():
                folders.append(status.getPath())
            else:
                files.append(_stored(status))
    return sorted(files, key=lambda f: f.path)


def exists(spark: SparkSession, uri: str) -> bool:
    fs, path = _fs_path(spark, uri)
    return bool(fs.exists(path))


def stat(spark: SparkSession, uri: str) -> StoredFile | None:
    """The file at uri; None when there is none (or it is a folder)."""
    fs, path = _fs_path(spark, uri)
    try:
        status = fs.getFileStatus(path)
    except Exception as e:  # py4j raises the JVM's FileNotFoundException
        if "FileNotFoundException" in str(e):
            return None
        raise
    return None if status.isDirectory() else _stored(status)


def _stored(status: Any) -> StoredFile:
    return StoredFile(
        str(status.getPath().toString()), int(status.getLen()), 1000 * int(status.getModificationTime())
    )


def qualify(spark: SparkSession, uri: str) -> str:
    """Fully qualified form of `uri` as Spark prints paths (plain local paths become file:/...)."""
    fs, path = _fs_path(spark, uri)
    return str(fs.makeQualified(path).toString())


def normalize(uri: str) -> str:
    """Spark's form of a file's path, without a JVM call: s3://b/k stays, local paths become file:/abs."""
    if uri.startswith("file://"):
        return "file:/" + uri[len("file://") :].lstrip("/")
    if "://" in uri or uri.startswith("file:/"):
        return uri
    return "file:" + os.path.abspath(uri)


# Bytes go between the JVM and Python through a local file: the JVM's FileSystem copies a file many times
# faster than py4j moves the same bytes (docs/performance.md).


def read_bytes(spark: SparkSession, uri: str) -> bytes:
    fs, path = _fs_path(spark, uri)
    with tempfile.TemporaryDirectory(prefix="orchard-") as folder:
        local = Path(folder, "copy")
        fs.copyToLocalFile(False, path, _local_path(spark, local), True)  # raw local: no .crc file
        return local.read_bytes()


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="orchard-") as folder:
        local = Path(folder, "copy")
        local.write_bytes(data)
        upload(spark, local, uri)


def upload(spark: SparkSession, local: Path, uri: str) -> None:
    """Copy a local file to `uri`, replacing what is there."""
    fs, path = _fs_path(spark, uri)
    fs.copyFromLocalFile(False, True, _local_path(spark, local), path)


def _local_path(spark: SparkSession, local: Path) -> Any:
    """file:<local> as a Hadoop Path, taken literally (a URI string would have '%' and spaces re-quoted)."""
    return spark.sparkContext._jvm.org.apache.hadoop.fs.Path("file", None, str(local))  # type: ignore[union-attr]


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(part.strip("/") for part in parts)])


def _fs_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)  # type: ignore[union-attr]
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path
