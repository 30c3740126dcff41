"""Catalog and publish a validated run (``lambda_handler``); record a failed one (``record_failure_handler``).

Tables (Glue, all EXTERNAL over the bucket; ``glue_tables``):
- ``pca`` and ``rejects``: what users query by default. Unpartitioned; each one's location is the folder of
  exactly one validated run, switched by a single UpdateTable call, so a reader sees the previous run or the
  new one, never a half-written or failed run.
- ``pca_history``, ``rejects_history``, ``features``: partitioned by ``run_id``; a run's partition is
  added only after it validated.
- ``runs``: one JSON record per run (succeeded or failed) under ``<results>/run_records/`` (``run_records``).

After publishing, the run's turn retires old history (``retention``: RetainRuns / RetainDays) and drops the
feature cache's partitions no snapshot uses (``cache_partitions``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from cache_partitions import prune_cache
from erasure import answered_by, erasure_requests, remove
from glue_tables import Catalog, location, table_input
from notify import Topic, emit_metrics, failure_metrics, notify_failed, notify_published, run_metrics
from retention import MAX_RUNS_PER_TURN, Policy, manifest_to_delete, retire_after_publish
from run_page_status import show_status
from run_records import (
    Prices,
    error_text,
    job_run_id_of,
    job_run_of,
    read_report,
    run_record,
    usage_from_job_run,
    write_record,
)

from orchard_contract.layout import S3Uri
from orchard_contract.tables import (
    FEATURES,
    PCA,
    PCA_HISTORY,
    PUBLISHED_RUN,
    PUBLISHED_STARTED_AT,
    REJECTS,
    REJECTS_HISTORY,
    RUNS,
)
from orchard_contract.times import parse_time

logger = Logger()


@dataclass(frozen=True)
class Config:
    database: str
    prices: Prices
    retention: Policy
    manifests_prefix: str
    topic: Topic | None = None  # where a run's end is announced (notify.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        prices = Prices(
            vcpu_hour=float(env.get("VCPU_HOUR_USD", "0.052624")),
            memory_gb_hour=float(env.get("MEMORY_GB_HOUR_USD", "0.0057785")),
            storage_gb_hour=float(env.get("STORAGE_GB_HOUR_USD", "0.000111")),
        )
        return cls(
            database=env["DATABASE_NAME"],
            prices=prices,
            retention=Policy.from_env(env),
            manifests_prefix=env.get("MANIFESTS_PREFIX", "manifests/"),
            topic=Topic.from_env(env),
        )


def publish_run(event: Mapping[str, Any], config: Config, session: boto3.Session) -> dict[str, Any]:
    run_id: str = event["run_id"]
    started_at: str = event["started_at"]
    root = S3Uri.parse(event["output"])
    report = read_report(session, root, run_id)
    catalog = Catalog(config.database, session)

    for spec in (PCA_HISTORY, REJECTS_HISTORY, FEATURES, RUNS):
        catalog.put_table(table_input(spec, location(root, spec.dataset)))
    catalog.add_partitions(PCA_HISTORY, root, [run_id])
    catalog.add_partitions(REJECTS_HISTORY, root, [run_id])
    # The runs whose feature rows the published rows use (a retry reuses what a failed attempt featurized).
    own = [run_id] if report["counts"].get("featurized_this_run", 0) > 0 else []
    catalog.add_partitions(FEATURES, root, list(report.get("feature_runs", own)))

    # A run that started before the published one (overlapping batches) must not replace it.
    published = (catalog.get_table(PCA.name) or {}).get("Parameters", {})
    newer = PUBLISHED_STARTED_AT not in published or parse_time(started_at) >= parse_time(
        published[PUBLISHED_STARTED_AT]
    )
    record = run_record(
        run_id,
        "succeeded",
        published=newer,
        started_at=started_at,
        manifest=event.get("manifest"),
        report=report,
        usage=usage_from_job_run(job_run_of(event.get("usage"))),
        prices=config.prices,
    )
    # Recorded before the switch: if the switch fails, the failure path overwrites this record as failed.
    record_uri = write_record(session, root, record)

    if newer:
        marker = {PUBLISHED_RUN: run_id, PUBLISHED_STARTED_AT: started_at}
        # rejects first: pca is the table users query by default, switched last.
        for spec in (REJECTS, PCA):
            catalog.put_table(table_input(spec, location(root, spec.dataset, run_id), marker))
        logger.info("run published", extra={"run_id": run_id})
    else:
        logger.warning(
            "a newer run is already published; this run stays in the history tables only",
            extra={"run_id": run_id, "published_run_id": published.get(PUBLISHED_RUN)},
        )
    show_status(session.client("s3"), root, record, run_id if newer else published.get(PUBLISHED_RUN))
    retention = housekeeping(session, root, catalog, config, event, newer, published)
    notify_published(session, config.topic, root, record)
    emit_metrics(run_metrics(record))
    return {
        "run_id": run_id,
        "published": newer,
        "published_run_id": run_id if newer else published.get(PUBLISHED_RUN),
        "record": record_uri,
        "estimated_cost_usd": record["estimated_cost_usd"],
        "retention": retention,
    }


def housekeeping(
    session: boto3.Session,
    root: S3Uri,
    catalog: Catalog,
    config: Config,
    event: Mapping[str, Any],
    newer: bool,
    published: Mapping[str, str],
) -> dict[str, Any]:
    """Retention, then the cache's unused partitions; an erasure request this run answers keeps no other
    run. Never fails the publish: what a turn leaves, the next finishes."""
    run_id, before = event["run_id"], published.get(PUBLISHED_RUN)
    try:
        requests = erasure_requests(session.client("s3"), root) if newer else []
    except Exception:
        logger.exception("erasure requests unreadable; the next run answers them")
        requests = []
    answered = answered_by(requests, parse_time(event["started_at"]))
    if answered:  # the erased images are in no run but this one: every other run's outputs go now
        policy, in_use, before = replace(config.retention, runs=1), {run_id}, None
    else:  # the run published until now stays this turn too: a query that started before the switch reads it
        policy, in_use = config.retention, {run_id, *([before] if before else [])}
    result = retire_after_publish(
        session, root, catalog, policy, keep=in_use, manifests_prefix=config.manifests_prefix
    )
    if not newer:
        return result
    result["cache"] = prune_cache(
        session, root, catalog, policy, published=run_id, previously_published=before
    )
    finished = (
        "error" not in result
        and "error" not in result["cache"]
        and len(result["retired"]) < MAX_RUNS_PER_TURN
    )
    if answered and finished:
        # This run's own manifest names the erased keys (as removed): a published batch never runs again.
        own = manifest_to_delete({"status": "succeeded", **event}, root.bucket, config.manifests_prefix)
        remove(session.client("s3"), root, answered, *([own] if own else []))
        result["erasures"] = [request.key for request in answered]
    return result


def realign_published_tables(catalog: Catalog, root: S3Uri) -> None:
    """A publish that failed between its two switches left ``rejects`` ahead of ``pca``: point it back."""
    rejects = catalog.get_table(REJECTS.name)
    if rejects is None:
        return
    pca = catalog.get_table(PCA.name)
    marker_keys = (PUBLISHED_RUN, PUBLISHED_STARTED_AT)
    marker = {k: v for k, v in (pca or {}).get("Parameters", {}).items() if k in marker_keys}
    if rejects.get("Parameters", {}).get(PUBLISHED_RUN) == marker.get(PUBLISHED_RUN):
        return
    if not marker:  # the very first publish failed: there is no published run to point at
        catalog.delete_table(REJECTS.name)
    else:
        at = location(root, REJECTS.dataset, marker[PUBLISHED_RUN])
        catalog.put_table(table_input(REJECTS, at, marker))
    logger.warning("rejects table realigned with the published run", extra={"published_run": marker})


def record_failure(event: Mapping[str, Any], config: Config, session: boto3.Session) -> dict[str, Any]:
    root = S3Uri.parse(event["output"])
    state = event.get("state") or {}
    error = error_text(event.get("error") or {})
    catalog = Catalog(config.database, session)
    realign_published_tables(catalog, root)
    catalog.put_table(table_input(RUNS, location(root, RUNS.dataset)))
    record = run_record(
        event["run_id"],
        "failed",
        started_at=event.get("started_at"),
        manifest=state.get("manifest"),
        usage=usage_from_job_run(job_run_of(state.get("usage"))),
        prices=config.prices,
        job_run_id=job_run_id_of(state.get("job")),
        error=error,
    )
    record_uri = write_record(session, root, record)
    show_status(session.client("s3"), root, record)
    logger.error("run failed", extra={"run_id": event["run_id"], "error": error[0], "cause": error[1]})
    notify_failed(session, config.topic, root, event["run_id"], error)
    emit_metrics(failure_metrics())
    return {"run_id": event["run_id"], "status": "failed", "error": error[0], "record": record_uri}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publish_run(event, Config.from_env(), boto3.Session())


@logger.inject_lambda_context
def record_failure_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return record_failure(event, Config.from_env(), boto3.Session())
