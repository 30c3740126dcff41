"""Carrying the scale + PCA sums from run to run: what is read back, and that the sums stay exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchard_job import snapshot
from orchard_job.model import FEATURE_DIM
from orchard_job.pca import Sums

NO_SPARK: Any = None  # gather reaches Spark only to read rows back: these cases read none, or must fail
X = np.random.default_rng(3).uniform(0.0, 6.0, size=(6, FEATURE_DIM))
ROWS = {f"file:/in/L/{i}.jpg": x for i, x in enumerate(X)}


def sums_of(*paths: str) -> Sums:
    x = np.array([ROWS[path] for path in paths]).reshape(-1, X.shape[1])
    return Sums(frozenset(), len(x), x.sum(axis=0), x.T @ x)


def test_new_rows_are_added_to_the_previous_sums_without_reading_any_row() -> None:
    paths = list(ROWS)
    previous = snapshot.Snapshot("r1", {path: "r1" for path in paths[:4]}, sums_of(*paths[:4]))
    current = {path: "r1" for path in paths[:4]} | {path: "r2" for path in paths[4:]}
    gathered = snapshot.gather(NO_SPARK, None, current, previous, (paths[4:], sums_of(*paths[4:])), "r2")
    expected = sums_of(*paths)
    assert gathered.sums.n == 6
    np.testing.assert_allclose(gathered.sums.gram, expected.gram, rtol=1e-12)
    np.testing.assert_allclose(gathered.sums.total, expected.total, rtol=1e-12)
    read = {"added": 0, "removed": 0}
    assert gathered.source == {"snapshot": "r1", "featurized_this_run": 2, "rows_read": read}


def test_a_snapshot_of_the_same_run_id_is_not_trusted() -> None:
    paths = list(ROWS)
    previous = snapshot.Snapshot("r1", {path: "r1" for path in paths}, sums_of(*paths))
    with pytest.raises(snapshot.MissingRowsError, match="cache is empty"):  # it would have to read them
        snapshot.gather(NO_SPARK, None, {path: "r1" for path in paths}, previous, ([], Sums.empty()), "r1")


def test_lost_task_sums_are_not_used() -> None:
    paths = list(ROWS)
    previous = snapshot.Snapshot("r1", {path: "r1" for path in paths[:4]}, sums_of(*paths[:4]))
    current = {path: "r1" for path in paths[:4]} | {path: "r2" for path in paths[4:]}
    partial = sums_of(paths[4])  # the tasks reported one of the two featurized rows
    with pytest.raises(snapshot.MissingRowsError):  # so both are to be read back
        snapshot.gather(NO_SPARK, None, current, previous, (paths[4:], partial), "r2")


def test_sums_and_rows_round_trip_exactly(spark, tmp_path: Path) -> None:
    paths = list(ROWS)
    saved = snapshot.Snapshot("r7", {path: "r1" for path in paths}, sums_of(*paths))
    snapshot.save(spark, str(tmp_path), "model-a", saved)
    loaded = snapshot.load(spark, str(tmp_path), "model-a")
    assert loaded is not None and loaded.run_id == "r7" and loaded.rows == saved.rows
    assert loaded.sums.n == 6 and np.array_equal(loaded.sums.total, saved.sums.total)
    assert np.array_equal(loaded.sums.gram, saved.sums.gram)
    assert snapshot.load(spark, str(tmp_path), "model-b") is None  # another model starts afresh
    (tmp_path / "models" / "run_id=r7" / snapshot.SUMS_FILE).write_bytes(b"truncated")
    assert snapshot.load(spark, str(tmp_path), "model-a") is None
