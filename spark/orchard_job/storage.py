"""Small-file I/O through Hadoop's FileSystem: the driver reads and writes s3:// (EMRFS) and file:// alike."""

from __future__ import annotations

import os
import re
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
    """Every file under uri at any depth, whatever its name or size, in Hadoop's path form.

    Spark's file index (and so a binaryFile listing) skips names it takes for hidden or metadata files (a
    leading '.' or '_', '._COPYING_'), whole folders of them included, and empty files: this does not.
    A local folder is walked by Python (what Hadoop's local FileSystem would list, without a JVM call per
    file); any other is listed by Hadoop's FileSystem on the driver, folder by folder.
    """
    qualified = qualify(spark, uri)
    if qualified.startswith("file:"):
        files = _list_local(qualified.removeprefix("file:"))
    else:
        files = _list_hadoop(spark, uri)
    return sorted(files, key=lambda f: f.path)


def _list_local(folder: str) -> list[StoredFile]:
    files: list[StoredFile] = []
    folders = [folder]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir():  # a link to a folder is a folder, as to Hadoop's local FileSystem
                    folders.append(entry.path)
                    continue
                try:
                    status = entry.stat()
                except FileNotFoundError:  # gone since the folder was read, or a dangling link: as Hadoop
                    continue
                modified_ms = status.st_mtime_ns // 1_000_000  # Hadoop keeps milliseconds
                files.append(StoredFile("file:" + entry.path, status.st_size, 1000 * modified_ms))
    return files


def _list_hadoop(spark: SparkSession, uri: str) -> list[StoredFile]:
    jvm = spark.sparkContext._jvm
    fs, root = _fs_path(spark, uri)
    files: list[StoredFile] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        statuses = fs.listStatus(folder)
        text = jvm.org.apache.commons.lang3.ArrayUtils.toString(statuses)  # type: ignore[union-attr]
        entries = _parse_statuses(str(text), str(folder.toString()), len(statuses))
        if entries is None:  # a format or a name the text cannot carry unambiguously: ask each status
            entries = [_entry(status) for status in statuses]
        for path, stored in entries:
            if stored is None:
                folders.append(jvm.org.apache.hadoop.fs.Path(path))  # type: ignore[union-attr]
            else:
                files.append(stored)
    return files


# One folder's listing crosses py4j as one string (ArrayUtils.toString of its FileStatus array), not as calls
# per file for its path, size and time. The text is FileStatus.toString's (subclasses may add fields); any
# doubt (another format, a name that mimics one) falls back to the calls.
_STATUS = re.compile(
    r"\w+\{path=(?P<path>.*?); isDirectory=(?P<folder>true|false)"
    r"(?:; length=(?P<size>\d+); replication=\d+; blocksize=\d+)?"
    r"; modification_time=(?P<modified>-?\d+); access_time=-?\d+; owner=[^;]*; group=[^;]*; permission=[^;]*"
    r"; isSymlink=false; hasAcl=(?:true|false); isEncrypted=(?:true|false); isErasureCoded=(?:true|false)"
    r"(?:; \w+=[^;{}]*)*\}(?:,|\}$)"
)
Entry = tuple[str, "StoredFile | None"]  # a path, and its file (None for a folder)


def _parse_statuses(text: str, folder: str, count: int) -> list[Entry] | None:
    if not text.startswith("{"):
        return None
    entries: list[Entry] = []
    position, prefix = 1, folder.rstrip("/") + "/"
    while position < len(text) - (count == 0):
        match = _STATUS.match(text, position)
        if match is None:
            return None
        path, is_folder = match["path"], match["folder"] == "true"
        if not path.startswith(prefix) or "/" in path[len(prefix) :] or is_folder != (match["size"] is None):
            return None
        size, modified_us = int(match["size"] or 0), 1000 * int(match["modified"])
        entries.append((path, None if is_folder else StoredFile(path, size, modified_us)))
        position = match.end()
    return entries if len(entries) == count else None


def _entry(status: Any) -> Entry:
    if status.isDirectory():
        return str(status.getPath().toString()), None
    stored = _stored(status)
    return stored.path, stored


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
