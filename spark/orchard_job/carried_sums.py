"""The scale + PCA sums carried from run to run, so that a run reads no unchanged feature row.

A run's current rows are the feature row each of its images takes, named by (path, size, modified, run id);
rows are only ever appended to the cache, so a name always means the same values. The sums (n, sum x,
sum x x^T) over those rows determine the scaler and the PCA exactly (pca.fit). Each run saves its rows and
their sums under models/run_id=<id>/, then names them in models/_snapshots/<network id>.json: written last,
so the pointer never names half-written files. (Those file names on disk keep their word, "snapshot".)

The next run with the same network starts from the sums named there. It adds the sums of the rows it
featurized (summed by the featurize tasks over the values they wrote) and reads back only the other rows that
entered or left the current rows: re-keyed copies, deleted or overwritten images. Without carried sums to
start from, or when that would read more rows than summing every current row afresh, it does the latter.
Either way the fit covers all current rows; only the way their sums are gathered differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.layout import MODEL_POINTERS_FOLDER, MODELS_DATASET, run_path
from orchard_contract.tables import FEATURE_DIM
from orchard_job import storage
from orchard_job.frames import local_frame
from orchard_job.listing import KEY_COLUMNS
from orchard_job.sums import LostSumsError, Sums, sum_rows

log = logging.getLogger("orchard")

SUMS_FILE, ROWS_FILE = "snapshot_sums.npz", "snapshot_rows.parquet"
ROW_COLUMNS = [*KEY_COLUMNS, "run_id"]
_UPPER = np.triu_indices(FEATURE_DIM)  # the gram is symmetric: its upper triangle is stored
RowId = tuple[str, int, int, str]  # a feature row: the image's (path, size, modified_us), and its run id


@dataclass(frozen=True)
class CarriedSums:
    run_id: str  # the run that saved them
    rows: set[RowId]
    sums: Sums


@dataclass(frozen=True)
class Gathered:
    sums: Sums
    source: dict[str, Any]  # how the sums were gathered, for the report


class MissingRowsError(LostSumsError):
    """Feature rows the sums need are not (exactly once) in the cache."""


NOTHING_CARRIED = CarriedSums("", set(), Sums.empty())


def gather_sums(
    spark: SparkSession,
    cache: DataFrame | None,
    rows: set[RowId],
    previous: CarriedSums | None,
    featurized: set[RowId],
    featurized_sums: Sums,
) -> Gathered:
    """The sums over `rows`, from the carried sums and the featurize tasks' sums where they serve."""
    if featurized_sums.n != len(featurized):  # not reported (or a report lost): read those rows back
        featurized, featurized_sums = set(), Sums.empty()
    if previous is not None:
        try:
            return _sums_from(spark, cache, previous, rows, featurized, featurized_sums)
        except MissingRowsError as e:  # a retention policy may have deleted old rows
            log.warning("summing every row instead of starting from run %s: %s", previous.run_id, e)
    return _sums_from(spark, cache, NOTHING_CARRIED, rows, featurized, featurized_sums)


def _sums_from(
    spark: SparkSession,
    cache: DataFrame | None,
    start: CarriedSums,
    current: set[RowId],
    featurized: set[RowId],
    featurized_sums: Sums,
) -> Gathered:
    added, removed = current - start.rows - featurized, start.rows - current
    if len(added) + len(removed) >= len(current - featurized):  # cheaper to read every row afresh
        start, added, removed = NOTHING_CARRIED, current - featurized, set()
    sums = start.sums.plus(featurized_sums).plus(read_sums(spark, cache, added))
    sums = sums.plus(read_sums(spark, cache, removed), sign=-1)
    source = {
        "snapshot": start.run_id or None,
        "featurized_this_run": featurized_sums.n,
        "rows_read": {"added": len(added), "removed": len(removed)},
    }
    return Gathered(sums, source)


def read_sums(spark: SparkSession, cache: DataFrame | None, rows: set[RowId]) -> Sums:
    """Sums over these cached rows in one pass (none when there are none to read)."""
    if not rows:
        return Sums.empty()
    if cache is None:
        raise MissingRowsError(f"{len(rows)} feature rows to read, but the cache is empty")
    wanted = local_frame(spark, sorted(rows), "path string, size long, modified_us long, run_id string")
    runs = F.col("run_id").isin(sorted({row[3] for row in rows}))  # scans only those runs' folders
    found = cache.filter(runs).select(*ROW_COLUMNS, "features").join(F.broadcast(wanted), ROW_COLUMNS)
    sums = sum_rows(found)
    if sums.n != len(rows):
        raise MissingRowsError(f"{sums.n} rows found in the cache for {len(rows)} to read")
    return sums


def pointer(output: str, network_id: str) -> str:
    return storage.join(output, MODELS_DATASET, MODEL_POINTERS_FOLDER, f"{network_id}.json")


def save(spark: SparkSession, output: str, network_id: str, carried: CarriedSums) -> None:
    """Best effort: without them, the next run starts from older carried sums or sums every row."""
    folder = run_path(output, MODELS_DATASET, carried.run_id)
    sums = carried.sums
    arrays = io.BytesIO()
    np.savez(arrays, n=np.int64(sums.n), total=sums.total, gram_upper=sums.gram[_UPPER])
    table = io.BytesIO()
    ordered = sorted(carried.rows)
    pq.write_table(pa.table({name: [row[i] for row in ordered] for i, name in enumerate(ROW_COLUMNS)}), table)
    files = {SUMS_FILE: arrays.getvalue(), ROWS_FILE: table.getvalue()}
    # The digests tie the pointer to these exact files: a retry under the same run id rewrites them in place.
    named = {
        "run_id": carried.run_id,
        "model_id": network_id,
        "sha256": {k: _sha256(v) for k, v in files.items()},
    }
    try:
        for name, data in files.items():
            storage.write_bytes(spark, storage.join(folder, name), data)
        storage.write_bytes(spark, pointer(output, network_id), json.dumps(named).encode())
    except (Py4JJavaError, OSError) as e:
        log.warning("PCA sums of run %s not saved (%s): the next run reads more rows", carried.run_id, e)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(spark: SparkSession, output: str, network_id: str) -> CarriedSums | None:
    """The sums the pointer names for this network; None (and a full pass) when they cannot be used."""
    named_at = pointer(output, network_id)
    try:
        if not storage.exists(spark, named_at):
            return None
        named = json.loads(storage.read_bytes(spark, named_at))
        run_id, digests = str(named["run_id"]), named["sha256"]
        folder = run_path(output, MODELS_DATASET, run_id)
        files = {
            name: storage.read_bytes(spark, storage.join(folder, name)) for name in (SUMS_FILE, ROWS_FILE)
        }
        if named["model_id"] != network_id or any(_sha256(files[name]) != digests[name] for name in files):
            raise ValueError(f"the files under {folder} are not the ones the pointer names")
        arrays = np.load(io.BytesIO(files[SUMS_FILE]))
        table = pq.read_table(io.BytesIO(files[ROWS_FILE]))
        gram = np.zeros((FEATURE_DIM, FEATURE_DIM))
        gram[_UPPER] = arrays["gram_upper"]
        gram = np.triu(gram) + np.triu(gram, 1).T
        sums = Sums(frozenset(), int(arrays["n"]), arrays["total"].reshape(FEATURE_DIM), gram)
        rows = set(zip(*(table.column(name).to_pylist() for name in ROW_COLUMNS), strict=True))
    except (Py4JJavaError, OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        log.warning("the PCA sums named by %s cannot be used (%s): summing every row instead", named_at, e)
        return None
    if sums.n != len(rows) or not (np.isfinite(sums.total).all() and np.isfinite(sums.gram).all()):
        log.warning("the PCA sums of run %s do not match their %d rows: summing every row", run_id, len(rows))
        return None
    return CarriedSums(run_id, rows, sums)
