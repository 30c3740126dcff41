"""The feature cache's partitions that no snapshot uses any more, dropped after a publish (``prune_cache``).

The job compacts the cache (spark/orchard_job/compaction.py): a partition that holds a row its snapshot does
not take has its live rows copied into the run's own partition, so the published run's ``feature_runs`` name
every partition still in use. Once a run is published, any other partition holds only rows no published
snapshot reads (deleted or overwritten images, older networks' rows): its Glue partition goes at once, so the
``features`` table holds the published snapshot's rows only, each once; its files go too, except:
- the partitions of the run published until this turn (a query that started before the switch reads them);
- a failed run's partition, until retention would retire the run: a retry of its batch reuses its rows.
Idempotent like the history's retention: what a turn leaves, the next finishes.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import boto3
from glue_tables import Catalog
from retention import MAX_RUNS_PER_TURN, History, Policy, after_publish, runs_to_retire
from run_records import read_report

from orchard_contract.layout import S3Uri
from orchard_contract.tables import FEATURES, PCA_HISTORY


def partitions_to_drop(
    found: Collection[str], validated: Collection[str], in_use: Collection[str], policy: Policy, now: datetime
) -> list[str]:
    """The partitions no snapshot in use reads: a validated run's at once, a failed run's once retired."""
    expired = runs_to_retire(found, validated, in_use, policy, now)
    unused = [run for run in found if run in validated and run not in in_use]
    return sorted({*expired, *unused})[:MAX_RUNS_PER_TURN]


def feature_runs(session: boto3.Session, root: S3Uri, run_id: str) -> set[str]:
    """The cache partitions a run's snapshot reads (its report's feature_runs), and its own."""
    return {run_id, *read_report(session, root, run_id).get("feature_runs", [])}


def prune_cache(
    session: boto3.Session,
    root: S3Uri,
    catalog: Catalog,
    policy: Policy,
    *,
    published: str,
    previously_published: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Drop the unused partitions; never fails the publish (the next turn finishes what this one leaves)."""
    return after_publish(
        "feature cache pruning",
        "dropped",
        lambda: drop_unused(session, root, catalog, policy, published, previously_published, now),
    )


def drop_unused(
    session: boto3.Session,
    root: S3Uri,
    catalog: Catalog,
    policy: Policy,
    published: str,
    previously_published: str | None,
    now: datetime | None,
) -> list[str]:
    shown = feature_runs(session, root, published)
    kept = shown | (feature_runs(session, root, previously_published) if previously_published else set())
    history = History(session.client("s3"), root)
    cataloged = catalog.partition_runs(FEATURES)
    found = history.runs_with_folders(FEATURES.dataset) | cataloged
    validated = catalog.partition_runs(PCA_HISTORY)
    dropped = partitions_to_drop(found, validated, kept, policy, now or datetime.now(UTC))
    # The table shows the published snapshot's rows alone (no row twice); the files stay a turn longer.
    catalog.delete_partitions(FEATURES, sorted(cataloged - shown))
    for run_id in dropped:
        history.delete_folder(FEATURES.dataset, run_id)
    return dropped
