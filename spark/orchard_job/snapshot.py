"""The scale + PCA sums of each run's snapshot, carried to the next run so that it reads no unchanged row.

A run's snapshot is the feature row each of its images takes, named by (path, run id of the row). The sums
(n, sum x, sum x x^T) over those rows determine the scaler and the PCA exactly (pca.fit_sums). Each run saves
its snapshot's rows and sums under models/run_id=<id>/, then names them in models/_snapshots/<model id>.json:
written last, so the pointer never names a half-written snapshot.

The next run with the same model starts from the snapshot named there. It adds the sums of the rows it
featurized (summed by the featurize tasks over the values they wrote) and reads back only the other rows that
entered or left the snapshot: re-keyed copies, deleted or overwritten images. Without a snapshot to start
from, or when that would read more rows than summing every current row afresh, it does the latter. Either
way the fit covers all current rows; only the way their sums are gathered differs.
"""

from __future__ import annotations

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

from orchard_job import storage
from orchard_job.model import FEATURE_DIM
from orchard_job.pca import PcaError, Sums, partial_sums

log = logging.getLogger("orchard")

SUMS_FILE, ROWS_FILE = "snapshot_sums.npz", "snapshot_rows.parquet"
_UPPER = np.triu_indices(FEATURE_DIM)  # the gram is symmetric: its upper triangle is stored
Row = tuple[str, str]  # (path, run id of its features row)


@dataclass(frozen=True)
class Snapshot:
    run_id: str
    rows: dict[str, str]  # path -> run id of its features row
    sums: Sums


@dataclass(frozen=True)
class Gathered:
    sums: Sums
    source: dict[str, Any]  # how the sums were gathered, for the report


class MissingRowsError(PcaError):
    """Feature rows the sums need are no longer in the cache."""


EMPTY = Snapshot("", {}, Sums.empty())


def gather(
    spark: SparkSession,
    cache: DataFrame | None,
    rows: dict[str, str],
    previous: Snapshot | None,
    featurized: tuple[list[str], Sums],
    run_id: str,
) -> Gathered:
    """The sums over `rows`, from the previous snapshot and this run's featurized rows where they serve."""
    paths, fresh = featurized
    if fresh.n != len(paths):  # a report went missing: read this run's rows back like any other
        paths, fresh = [], Sums.empty()
    if previous is not None and run_id in {previous.run_id, *previous.rows.values()}:
        previous = None  # this run id rewrote features/run_id=<id>/: the snapshot's rows may have changed
    summed = {(path, run_id) for path in paths}
    if previous is not None:
        try:
            return _sums_from(spark, cache, previous, set(rows.items()), summed, fresh)
        except MissingRowsError as e:
            log.warning("summing every row instead of starting from run %s: %s", previous.run_id, e)
    return _sums_from(spark, cache, EMPTY, set(rows.items()), summed, fresh)


def _sums_from(
    spark: SparkSession,
    cache: DataFrame | None,
    start: Snapshot,
    current: set[Row],
    summed: set[Row],
    fresh: Sums,
) -> Gathered:
    added, removed = current - set(start.rows.items()) - summed, set(start.rows.items()) - current
    if len(added) + len(removed) >= len(current - summed):  # cheaper to read every row afresh
        start, added, removed = EMPTY, current - summed, set()
    sums = start.sums.plus(fresh).plus(read_sums(spark, cache, added))
    sums = sums.plus(read_sums(spark, cache, removed), sign=-1)
    source = {
        "snapshot": start.run_id or None,
        "featurized_this_run": fresh.n,
        "rows_read": {"added": len(added), "removed": len(removed)},
    }
    return Gathered(sums, source)


def read_sums(spark: SparkSession, cache: DataFrame | None, rows: set[Row]) -> Sums:
    """Sums over these cached rows in one pass (none when there are none to read)."""
    if not rows:
        return Sums.empty()
    if cache is None:
        raise MissingRowsError(f"{len(rows)} feature rows to read, but the cache is empty")
    wanted = storage.local_frame(spark, sorted(rows), "path string, run_id string")
    found = cache.select("path", "run_id", "features").join(F.broadcast(wanted), ["path", "run_id"])
    sums = partial_sums(found)
    if sums.n != len(rows):
        raise MissingRowsError(f"{len(rows) - sums.n} of {len(rows)} rows to read are not in the cache")
    return sums


def pointer(output: str, model_id: str) -> str:
    return storage.join(output, "models", "_snapshots", f"{model_id}.json")


def save(spark: SparkSession, output: str, model_id: str, snapshot: Snapshot) -> None:
    folder = storage.join(output, "models", f"run_id={snapshot.run_id}")
    sums = snapshot.sums
    arrays = io.BytesIO()
    np.savez(arrays, n=np.int64(sums.n), total=sums.total, gram_upper=sums.gram[_UPPER])
    storage.write_bytes(spark, storage.join(folder, SUMS_FILE), arrays.getvalue())
    rows = pa.table({"path": list(snapshot.rows), "run_id": list(snapshot.rows.values())})
    table = io.BytesIO()
    pq.write_table(rows, table)
    storage.write_bytes(spark, storage.join(folder, ROWS_FILE), table.getvalue())
    named = {"run_id": snapshot.run_id, "model_id": model_id, "rows": sums.n}
    storage.write_bytes(spark, pointer(output, model_id), json.dumps(named).encode())


def load(spark: SparkSession, output: str, model_id: str) -> Snapshot | None:
    """The snapshot the pointer names for this model; None (and a full pass) when it cannot be used."""
    named_at = pointer(output, model_id)
    if not storage.exists(spark, named_at):
        return None
    try:
        run_id = json.loads(storage.read_bytes(spark, named_at))["run_id"]
        folder = storage.join(output, "models", f"run_id={run_id}")
        arrays = np.load(io.BytesIO(storage.read_bytes(spark, storage.join(folder, SUMS_FILE))))
        table = pq.read_table(io.BytesIO(storage.read_bytes(spark, storage.join(folder, ROWS_FILE))))
        gram = np.zeros((FEATURE_DIM, FEATURE_DIM))
        gram[_UPPER] = arrays["gram_upper"]
        gram = np.triu(gram) + np.triu(gram, 1).T
        sums = Sums(frozenset(), int(arrays["n"]), arrays["total"], gram)
        rows = dict(zip(table.column("path").to_pylist(), table.column("run_id").to_pylist(), strict=True))
    except (Py4JJavaError, OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        log.warning("the PCA sums named by %s cannot be used (%s): summing every row instead", named_at, e)
        return None
    if sums.n != len(rows):
        log.warning("the saved PCA sums of run %s cover %d rows, not %d: ignored", run_id, sums.n, len(rows))
        return None
    return Snapshot(run_id, rows, sums)
