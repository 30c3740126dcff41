"""Retention of run history, a step of each run's turn after its publish (``retire_after_publish``).

A run's history is retired when it is outside the newest ``RetainRuns`` validated runs or older than
``RetainDays`` days (the time in its id: its batch's latest upload), except the runs in use: the run being
published, the published one, the one published until this turn (a query that started before the switch
still reads it), and the models folder that a carried-sums pointer names (the next run starts from it).

Retiring a run: its record is marked (``history_retired_at``; records are kept), then its ``pca_history`` and
``rejects_history`` partitions are dropped, then its objects go (the manifest of a succeeded run, whose batch
never runs again, then its pca/, rejects/, models/ and runs/ folders): Glue before S3, so no table ever
points at a deleted object. Which runs exist is read from the partitions and from the run folders in S3
alike, so a retirement that died midway is found and finished by the next turn; every step is idempotent.
A run with folders but neither partitions nor a record has not reached its catalog step: it is left alone.
The feature cache (``features``) is not history: its folders and partitions are left alone here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from glue_tables import Catalog
from run_records import read_record, write_record

from orchard_contract.layout import (
    FOLDER_MARKER,
    MODEL_POINTERS_FOLDER,
    MODELS_DATASET,
    RUNS_DATASET,
    S3Uri,
    run_folder,
    run_id_of_folder,
)
from orchard_contract.tables import PCA, PCA_HISTORY, PUBLISHED_RUN, REJECTS, REJECTS_HISTORY
from orchard_contract.times import run_id_time, time_text

logger = Logger()

# A run's folders under the results root, in the order they are deleted (runs/ last: the report goes last).
HISTORY_DATASETS = (PCA.dataset, REJECTS.dataset, MODELS_DATASET, RUNS_DATASET)
HISTORY_TABLES = (PCA_HISTORY, REJECTS_HISTORY)
MAX_RUNS_PER_TURN = 25  # bounds one turn's work: a backlog (RetainRuns lowered) drains over several turns
MAX_KEYS_PER_DELETE = 1000  # DeleteObjects' limit


@dataclass(frozen=True)
class Policy:
    runs: int  # RetainRuns: the newest validated runs kept
    days: int  # RetainDays: runs younger than this kept

    def __post_init__(self) -> None:
        if self.runs < 1 or self.days < 1:
            raise ValueError(f"retention keeps at least one run and one day, not {self}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Policy:
        return cls(runs=int(env.get("RETAIN_RUNS", "30")), days=int(env.get("RETAIN_DAYS", "90")))


def runs_to_retire(
    runs: Collection[str], validated: Collection[str], keep: Collection[str], policy: Policy, now: datetime
) -> list[str]:
    """The runs whose history goes, oldest first: older than the newest ``policy.runs`` validated runs, or
    than ``policy.days``. A run whose id carries no time (not named by the trigger) is never retired."""
    times = {run: moment for run in runs if (moment := run_id_time(run)) is not None}
    newest = sorted(((times[run], run) for run in validated if run in times), reverse=True)
    oldest_kept = newest[policy.runs - 1] if len(newest) >= policy.runs else None
    too_old = now - timedelta(days=policy.days)
    retired = [
        run
        for run, moment in times.items()
        if run not in keep and (moment < too_old or (oldest_kept is not None and (moment, run) < oldest_kept))
    ]
    return sorted(retired, key=lambda run: (times[run], run))


@dataclass(frozen=True)
class History:
    """The run folders under the results root."""

    s3: Any
    root: S3Uri

    def key(self, *parts: str) -> str:
        return "/".join(part for part in (self.root.key, *parts) if part)

    def keys(self, prefix: str, delimiter: str = "") -> list[str]:
        """Keys under prefix; with a delimiter, the folders one level down too (as "<folder>/")."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.root.bucket, Prefix=prefix, **({"Delimiter": delimiter} if delimiter else {})
        )
        return [
            name
            for page in pages
            for name in [
                *(p["Prefix"] for p in page.get("CommonPrefixes", [])),
                *(o["Key"] for o in page.get("Contents", [])),
            ]
        ]

    def runs_with_folders(self, dataset: str) -> set[str]:
        """Runs with a folder (or only its EMRFS marker left) under the dataset."""
        prefix = self.key(dataset) + "/"
        names = (name.removeprefix(prefix) for name in self.keys(prefix, "/"))
        return {run for name in names if (run := run_id_of_folder(name)) is not None}

    def carried_runs(self) -> set[str]:
        """The runs the carried-sums pointers name (one pointer per network)."""
        runs = set()
        for key in self.keys(self.key(MODELS_DATASET, MODEL_POINTERS_FOLDER) + "/"):
            body = self.s3.get_object(Bucket=self.root.bucket, Key=key)["Body"].read()
            try:
                runs.add(str(json.loads(body)["run_id"]))
            except (ValueError, KeyError, TypeError):
                logger.warning("unreadable carried-sums pointer", extra={"key": key})
        return runs

    def delete_folder(self, dataset: str, run_id: str) -> None:
        # "<folder>/" as the prefix: run_id=X must not take run_id=X-r2 with it.
        folder = self.key(dataset, run_folder(run_id))
        self.delete_keys([*self.keys(folder + "/"), folder + FOLDER_MARKER])

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), MAX_KEYS_PER_DELETE):
            objects = [{"Key": key} for key in keys[start : start + MAX_KEYS_PER_DELETE]]
            answer = self.s3.delete_objects(
                Bucket=self.root.bucket, Delete={"Objects": objects, "Quiet": True}
            )
            if answer.get("Errors"):
                raise RuntimeError(f"could not delete {answer['Errors']}")


def manifest_to_delete(record: Mapping[str, Any], bucket: str, manifests_prefix: str) -> str | None:
    """The key of a succeeded run's manifest: the trigger starts a batch again only after a failed run, so
    no pending run reads it. A failed run's manifest is left to the bucket's lifecycle rule."""
    manifest = record.get("manifest")
    if record.get("status") != "succeeded" or not isinstance(manifest, str):
        return None
    try:
        uri = S3Uri.parse(manifest)
    except ValueError:
        return None
    return uri.key if uri.bucket == bucket and uri.key.startswith(manifests_prefix) else None


def retire_history(
    session: boto3.Session,
    root: S3Uri,
    catalog: Catalog,
    policy: Policy,
    *,
    keep: Collection[str],
    manifests_prefix: str,
    now: datetime | None = None,
) -> list[str]:
    """Retire what the policy says (at most MAX_RUNS_PER_TURN runs); returns the runs retired."""
    now = now or datetime.now(UTC)
    history = History(session.client("s3"), root)
    carried = history.carried_runs()
    validated = catalog.partition_runs(PCA_HISTORY)
    cataloged = validated | catalog.partition_runs(REJECTS_HISTORY)
    found = set(cataloged)
    for dataset in HISTORY_DATASETS:
        runs = history.runs_with_folders(dataset)
        found |= runs - carried if dataset == MODELS_DATASET else runs
    in_use = {*keep, *published_runs(catalog)}
    chosen = runs_to_retire(found, validated, in_use, policy, now)[:MAX_RUNS_PER_TURN]
    retire, manifests = [], []
    for run_id in chosen:  # marked first: a retirement that dies midway still shows in the runs table
        record = read_record(session, root, run_id)
        if record is None and run_id not in cataloged:
            continue  # folders, but neither partitions nor a record: its catalog step is still to come
        retire.append(run_id)
        if record is not None and not record.get("history_retired_at"):
            write_record(session, root, {**record, "history_retired_at": time_text(now)})
        manifest = manifest_to_delete(record or {}, root.bucket, manifests_prefix)
        manifests += [manifest] if manifest else []
    for spec in HISTORY_TABLES:
        catalog.delete_partitions(spec, retire)
    history.delete_keys(manifests)
    for run_id in retire:
        for dataset in HISTORY_DATASETS:
            if not (dataset == MODELS_DATASET and run_id in carried):
                history.delete_folder(dataset, run_id)
    return retire


def published_runs(catalog: Catalog) -> set[str]:
    """The runs the published tables show (pca's and rejects', which agree unless a publish died between)."""
    tables = (catalog.get_table(spec.name) or {} for spec in (PCA, REJECTS))
    return {run for table in tables if (run := table.get("Parameters", {}).get(PUBLISHED_RUN))}


def after_publish(step: str, key: str, work: Callable[[], list[str]]) -> dict[str, Any]:
    """A housekeeping step once the run is published: it must not fail the run. What a failure leaves, the
    next turn finishes. ``{key: what it did}``, with ``error`` when it stopped midway."""
    try:
        done = work()
    except Exception as e:
        logger.exception(f"{step} stopped midway; the next run finishes it")
        return {key: [], "error": f"{type(e).__name__}: {e}"}
    if done:
        logger.info(f"{step} done", extra={"runs": done})
    return {key: done}


def retire_after_publish(
    session: boto3.Session,
    root: S3Uri,
    catalog: Catalog,
    policy: Policy,
    *,
    keep: Collection[str],
    manifests_prefix: str,
) -> dict[str, Any]:
    return after_publish(
        "retention",
        "retired",
        lambda: retire_history(session, root, catalog, policy, keep=keep, manifests_prefix=manifests_prefix),
    )
