"""The listed images' bytes as a DataFrame (path, content), whatever their names.

Spark's binaryFile source reads most files: one scan of the input folder when most of its images are wanted
(its own listing is cheaper than a lookup per file), else the files by path. Its file index skips names it
takes for hidden: a file inside such a folder is still read when named, a file with such a name is not, so
those few are read on the driver through Hadoop's FileSystem. A file gone since the listing yields no row
(the scan ignores missing files): the featurize step rejects it as gone.
"""

from __future__ import annotations

import re
from functools import reduce

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F

from orchard_contract.images import IMAGE_GLOB
from orchard_job import storage
from orchard_job.frames import local_frame
from orchard_job.listing import Image, Listing

CONTENT_COLUMNS = "path string, content binary"
# The input folder's own scan serves when at least this share of its images is wanted.
LISTING_SCAN_SHARE = 0.5
_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")


def hidden_to_spark(name: str) -> bool:
    """A file or folder name Spark's file index leaves out (HadoopFSUtils.shouldFilterOutPathName)."""
    metadata = name.startswith("_") and "=" not in name
    excluded = metadata or name.startswith(".") or name.endswith("._COPYING_")
    return excluded and not name.startswith(("_common_metadata", "_metadata"))


def in_folder_scan(path: str, root: str) -> bool:
    """Whether a scan of root lists the file: no name below root is hidden to Spark."""
    below = path[len(root) + 1 :] if path.startswith(root + "/") else None
    return below is not None and not any(hidden_to_spark(name) for name in below.split("/"))


def scan_contents(spark: SparkSession, images: list[Image], listing: Listing | None = None) -> DataFrame:
    """path, content of the images' files, split into tasks by bytes (spark.sql.files.openCostInBytes).

    A scan of the input folder may also hold files that are not among the images.
    """
    by_name = [i for i in images if not hidden_to_spark(i.path.rsplit("/", 1)[-1])]
    on_driver = [i for i in images if hidden_to_spark(i.path.rsplit("/", 1)[-1])]
    parts = []
    root = listing.root if listing is not None else None
    if root is not None and listing is not None and len(images) >= LISTING_SCAN_SHARE * len(listing.images):
        parts.append(folder_scan(spark, root))
        by_name = [i for i in by_name if not in_folder_scan(i.path, root)]
    if by_name:
        parts.append(files_at(spark, [i.path for i in by_name]))
    if on_driver or not parts:
        parts.append(read_on_driver(spark, [i.path for i in on_driver]))
    return reduce(DataFrame.unionByName, [part.select("path", "content") for part in parts])


def load_contents(spark: SparkSession, images: list[Image], listing: Listing | None = None) -> DataFrame:
    """path, content for exactly these images."""
    wanted = local_frame(spark, [(image.path,) for image in images], "path string")
    return scan_contents(spark, images, listing).join(F.broadcast(wanted), "path", "left_semi")


def folder_scan(spark: SparkSession, root: str) -> DataFrame:
    """binaryFile rows of the image files under root that Spark's file index lists."""
    reader = _reader(spark).option("recursiveFileLookup", "true").option("pathGlobFilter", IMAGE_GLOB)
    return reader.load(glob_escape(root))


def files_at(spark: SparkSession, paths: list[str]) -> DataFrame:
    """binaryFile rows of these files; one gone before the load is left out (Spark fails the load on it)."""
    while True:
        try:
            return _reader(spark).load([glob_escape(path) for path in paths])
        except AnalysisException as e:
            if "PATH_NOT_FOUND" not in str(e):
                raise
        paths = [path for path in paths if storage.exists(spark, path)]
        if not paths:
            return spark.createDataFrame([], CONTENT_COLUMNS)


def read_on_driver(spark: SparkSession, paths: list[str]) -> DataFrame:
    rows = []
    for path in paths:
        try:
            rows.append((path, storage.read_bytes(spark, path)))
        except Exception as e:  # py4j raises the JVM's FileNotFoundException
            if "FileNotFoundException" not in str(e):
                raise
    return local_frame(spark, rows, CONTENT_COLUMNS)


def _reader(spark: SparkSession) -> DataFrameReader:
    return spark.read.format("binaryFile").option("ignoreMissingFiles", "true")


def glob_escape(path: str) -> str:
    """Spark treats load() paths as globs; S3 keys may contain glob characters."""
    return _GLOB_CHARS.sub(r"\\\1", path)
