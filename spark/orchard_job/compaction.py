"""Compaction of the feature cache: a run copies the live rows of every partition that also holds dead ones.

A row is live when the run's snapshot takes it (its current rows); any other row is dead: an image deleted or
overwritten since, content re-keyed, an abandoned attempt's copy. A partition (features/run_id=<id>/) that
holds a dead row is dirty: its live rows are appended to this run's own partition, where they take this run's
id, and the snapshot (and so the catalog's ``features`` partitions) no longer uses it. The catalog's
retention deletes the partitions that no published snapshot uses once this run is published, so a dead row
outlives its image by one publish, and the cache holds the current images' rows in few partitions.

Nothing is rewritten in place: a reader sees either the old partitions or this run's, and a run that dies
after copying leaves copies in its own partition only, rows like any others (identical values, so the
carried sums renamed to the new ids stay exact).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.layout import run_path
from orchard_contract.tables import FEATURES, FEATURES_COLUMNS
from orchard_job.carried_sums import ROW_COLUMNS, CarriedSums, RowId
from orchard_job.frames import conform, local_frame


@dataclass(frozen=True)
class Compaction:
    drained: list[str]  # the dirty partitions whose live rows moved to this run's partition
    moved: int  # rows copied
    renames: dict[RowId, RowId]  # a moved row's old name -> its name in this run's partition

    def rename(self, rows: set[RowId]) -> set[RowId]:
        return {self.renames.get(row, row) for row in rows}

    def rename_carried(self, carried: CarriedSums | None) -> CarriedSums | None:
        """Carried sums over the same values, their moved rows named as they are now."""
        return (
            None if carried is None else CarriedSums(carried.run_id, self.rename(carried.rows), carried.sums)
        )


NOTHING_MOVED = Compaction([], 0, {})


def dirty_partitions(rows_per_run: Mapping[str, int], live: set[RowId], run_id: str) -> list[str]:
    """The partitions other than this run's that hold more rows than the snapshot takes from them."""
    live_per_run = Counter(row[3] for row in live)
    return sorted(run for run, count in rows_per_run.items() if run != run_id and count > live_per_run[run])


def compact(
    spark: SparkSession, cache: DataFrame | None, live: set[RowId], output: str, run_id: str
) -> Compaction:
    """Copy the live rows of the dirty partitions into this run's partition; their new names."""
    if cache is None:
        return NOTHING_MOVED
    counts = {row.run_id: row["count"] for row in cache.groupBy("run_id").count().collect()}
    drained = dirty_partitions(counts, live, run_id)
    leaving = [row for row in live if row[3] in drained]
    if not leaving:
        return Compaction(drained, 0, {})
    # An earlier attempt under this run id may hold a copy already (rows are appended, never replaced).
    own = cache.filter(F.col("run_id") == run_id).select(*ROW_COLUMNS[:3]).collect()
    held = {(row.path, row.size, row.modified_us) for row in own}
    moving = sorted(row for row in leaving if row[:3] not in held)
    if moving:
        wanted = local_frame(spark, moving, "path string, size long, modified_us long, run_id string")
        rows = cache.filter(F.col("run_id").isin(drained)).join(F.broadcast(wanted), ROW_COLUMNS)
        destination = run_path(output, FEATURES.dataset, run_id)
        conform(rows, FEATURES_COLUMNS).write.mode("append").parquet(destination)
    return Compaction(drained, len(moving), {row: (*row[:3], run_id) for row in leaving})
