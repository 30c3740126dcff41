"""Carrying the scale + PCA sums from run to run: what is read back, and that the sums stay exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchard_contract.tables import FEATURE_DIM
from orchard_job import carried_sums
from orchard_job.carried_sums import CarriedSums
from orchard_job.sums import Sums

NO_SPARK: Any = None  # gather_sums reaches Spark only to read rows back: these cases read none, or must fail
X = np.random.default_rng(3).uniform(0.0, 6.0, size=(6, FEATURE_DIM))
ROWS = {
    (f"file:/in/L/{i}.jpg", 100 + i, 1_700_000_000_000_000, "r1" if i < 4 else "r2"): x
    for i, x in enumerate(X)
}
FIRST, NEW = set(list(ROWS)[:4]), set(list(ROWS)[4:])


def sums_of(rows: set[carried_sums.RowId]) -> Sums:
    return Sums.of(np.array([ROWS[row] for row in sorted(rows)]).reshape(-1, FEATURE_DIM))


def test_new_rows_are_added_to_the_previous_sums_without_reading_any_row() -> None:
    previous = CarriedSums("r1", FIRST, sums_of(FIRST))
    gathered = carried_sums.gather_sums(NO_SPARK, None, FIRST | NEW, previous, NEW, sums_of(NEW))
    expected = sums_of(FIRST | NEW)
    assert gathered.sums.n == 6
    np.testing.assert_allclose(gathered.sums.gram, expected.gram, rtol=1e-12)
    np.testing.assert_allclose(gathered.sums.total, expected.total, rtol=1e-12)
    read = {"added": 0, "removed": 0}
    assert gathered.source == {"snapshot": "r1", "featurized_this_run": 2, "rows_read": read}


def test_lost_task_sums_are_not_used() -> None:
    previous = CarriedSums("r1", FIRST, sums_of(FIRST))
    partial = sums_of(set(list(NEW)[:1]))  # the tasks reported one of the two featurized rows
    with pytest.raises(carried_sums.MissingRowsError, match="cache is empty"):  # so both are to be read back
        carried_sums.gather_sums(NO_SPARK, None, FIRST | NEW, previous, NEW, partial)


def test_sums_and_rows_round_trip_exactly(spark, tmp_path: Path) -> None:
    saved = CarriedSums("r7", FIRST | NEW, sums_of(FIRST | NEW))
    carried_sums.save(spark, str(tmp_path), "network-a", saved)
    loaded = carried_sums.load(spark, str(tmp_path), "network-a")
    assert loaded is not None and loaded.run_id == "r7" and loaded.rows == saved.rows
    assert loaded.sums.n == 6 and np.array_equal(loaded.sums.total, saved.sums.total)
    assert np.array_equal(loaded.sums.gram, saved.sums.gram)
    assert carried_sums.load(spark, str(tmp_path), "network-b") is None  # another network starts afresh


@pytest.mark.parametrize("damage", [b"", b"truncated"])
def test_damaged_carried_sums_are_ignored(spark, tmp_path: Path, damage: bytes) -> None:
    carried_sums.save(spark, str(tmp_path), "network-a", CarriedSums("r7", FIRST, sums_of(FIRST)))
    sums_file = tmp_path / "models" / "run_id=r7" / carried_sums.SUMS_FILE
    sums_file.write_bytes(damage)
    assert not list(sums_file.parent.glob(".*.crc"))  # the bytes themselves are read, not a checksum
    assert carried_sums.load(spark, str(tmp_path), "network-a") is None
