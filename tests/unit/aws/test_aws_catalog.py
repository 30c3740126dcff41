"""catalog + record_failure: Glue tables, atomic publish and run records, on moto Glue/S3."""

from __future__ import annotations

import json

import glue_tables
import pytest
from aws_support import BUCKET, DATABASE, RESULTS

from functions.catalog import app as catalog
from orchard_contract.tables import PCA_COLUMNS, PUBLISHED_RUN, RUNS, RUNS_COLUMNS

FIRST = "orchard-20250314T092655Z-00000000000000000000000000000001"
SECOND = "orchard-20250314T101500Z-00000000000000000000000000000002"


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("DATABASE_NAME", DATABASE)


def publish_event(load_event, run_id: str, started_at: str) -> dict:
    event = load_event("catalog.json")
    event.update(run_id=run_id, started_at=started_at)
    return event


def table(session, name: str) -> dict:
    return session.client("glue").get_table(DatabaseName=DATABASE, Name=name)["Table"]


def partitions(session, name: str) -> list[list[str]]:
    found = session.client("glue").get_partitions(DatabaseName=DATABASE, TableName=name)["Partitions"]
    return sorted(p["Values"] for p in found)


def record(session, run_id: str) -> dict:
    body = (
        session.client("s3")
        .get_object(Bucket=BUCKET, Key=f"results/{RUNS.dataset}/{run_id}.json")["Body"]
        .read()
    )
    assert body.count(b"\n") == 1  # one JSON object per line for the JSON SerDe
    return json.loads(body)


def test_publish_creates_tables_and_points_pca_at_the_run(session, make_run, write_run, load_event, context):
    write_run(make_run(FIRST))

    result = catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)

    assert result["published"] is True
    pca = table(session, "pca")
    assert pca["StorageDescriptor"]["Location"] == f"{RESULTS}/pca/run_id={FIRST}/"
    assert tuple((c["Name"], c["Type"]) for c in pca["StorageDescriptor"]["Columns"]) == PCA_COLUMNS
    assert pca["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert pca["Parameters"][PUBLISHED_RUN] == FIRST
    assert table(session, "rejects")["StorageDescriptor"]["Location"] == f"{RESULTS}/rejects/run_id={FIRST}/"
    assert partitions(session, "pca_history") == [[FIRST]]
    assert partitions(session, "features") == [[FIRST]]
    assert table(session, "runs")["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith(
        "JsonSerDe"
    )


def test_run_record_has_counts_variance_usage_and_cost(session, make_run, write_run, load_event, context):
    write_run(make_run(FIRST))

    result = catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)

    row = record(session, FIRST)
    assert set(row) == {name for name, _ in RUNS_COLUMNS}
    assert row | {"recorded_at": None} == row | {
        "run_id": FIRST,
        "status": "succeeded",
        "published": True,
        "listed": 4,
        "in_pca": 3,
        "rejected": 1,
        "k": 3,
        "explained_variance": [0.6, 0.25, 0.12],
        "cumulative_variance": pytest.approx(0.97),
        "job_run_id": "00fjobrunexample",
        "job_seconds": 412,
        # Billed figures win over raw utilization.
        "vcpu_hours": 2.4,
        "memory_gb_hours": 9.6,
        "error": None,
        "recorded_at": None,
    }
    assert (
        row["estimated_cost_usd"]
        == result["estimated_cost_usd"]
        == pytest.approx(2.4 * 0.052624 + 9.6 * 0.0057785, abs=1e-6)
    )


def test_next_run_switches_pca_and_keeps_previous_run_queryable(
    session, make_run, write_run, load_event, context
):
    write_run(make_run(FIRST))
    write_run(make_run(SECOND, images=6, rejected=2))
    catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)

    catalog.lambda_handler(publish_event(load_event, SECOND, "2025-03-14T10:16:00.000Z"), context)

    assert table(session, "pca")["StorageDescriptor"]["Location"] == f"{RESULTS}/pca/run_id={SECOND}/"
    assert partitions(session, "pca_history") == [[FIRST], [SECOND]]
    assert partitions(session, "rejects_history") == [[FIRST], [SECOND]]


def test_older_run_finishing_late_does_not_replace_newer(session, make_run, write_run, load_event, context):
    write_run(make_run(FIRST))
    write_run(make_run(SECOND))
    catalog.lambda_handler(publish_event(load_event, SECOND, "2025-03-14T10:16:00.000Z"), context)

    result = catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)

    assert result == {**result, "published": False, "published_run_id": SECOND}
    assert table(session, "pca")["StorageDescriptor"]["Location"] == f"{RESULTS}/pca/run_id={SECOND}/"
    assert record(session, FIRST)["published"] is False
    assert partitions(session, "pca_history") == [[FIRST], [SECOND]]


def test_publish_is_idempotent(session, make_run, write_run, load_event, context):
    write_run(make_run(FIRST))
    event = publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z")

    first = catalog.lambda_handler(event, context)
    again = catalog.lambda_handler(event, context)

    assert again["published"] is first["published"] is True
    assert partitions(session, "pca_history") == [[FIRST]]


def test_no_features_partition_when_the_run_featurized_nothing(
    session, make_run, write_run, load_event, context
):
    run = make_run(FIRST)
    run.features = run.features.slice(0, 0)
    run.report["counts"].update(featurized_this_run=0, reused_from_cache=3)
    write_run(run)

    catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)

    assert partitions(session, "features") == []


def test_features_partitions_cover_every_run_the_snapshot_reads(
    session, make_run, write_run, load_event, context
):
    run = make_run(SECOND)
    run.report["feature_runs"] = [
        FIRST,
        SECOND,
    ]  # FIRST featurized, then failed later: SECOND reused its rows
    write_run(run)

    catalog.lambda_handler(publish_event(load_event, SECOND, "2025-03-14T10:15:01.000Z"), context)
    catalog.lambda_handler(publish_event(load_event, SECOND, "2025-03-14T10:15:01.000Z"), context)  # retried

    assert partitions(session, "features") == [[FIRST], [SECOND]]


def test_a_run_left_without_images_is_published_like_any_other(
    session, make_run, write_run, load_event, context
):
    run = make_run(SECOND, images=1, rejected=1, k=0)  # every image deleted but a corrupt one: an empty pca
    run.report["feature_runs"] = []
    write_run(run)

    result = catalog.lambda_handler(publish_event(load_event, SECOND, "2025-03-14T10:15:01.000Z"), context)

    assert result["published"] is True
    assert table(session, "pca")["StorageDescriptor"]["Location"] == f"{RESULTS}/pca/run_id={SECOND}/"
    assert partitions(session, "features") == []
    figures = {key: record(session, SECOND)[key] for key in ("k", "in_pca", "cumulative_variance")}
    assert figures == {"k": 0, "in_pca": 0, "cumulative_variance": None}


def publish_failing_at_the_pca_switch(monkeypatch, event: dict, context) -> None:
    """Run the publish with Glue failing on the pca switch (after rejects switched), then restore Glue."""
    switch = glue_tables.Catalog.put_table

    def fail_on_pca(self, wanted):
        if wanted["Name"] == "pca":
            raise RuntimeError("Glue is unavailable")
        switch(self, wanted)

    monkeypatch.setattr(glue_tables.Catalog, "put_table", fail_on_pca)
    with pytest.raises(RuntimeError):
        catalog.lambda_handler(event, context)
    monkeypatch.setattr(glue_tables.Catalog, "put_table", switch)


def test_a_publish_that_failed_half_way_is_undone_by_the_failure_record(
    session, make_run, write_run, load_event, context, monkeypatch
):
    write_run(make_run(FIRST))
    catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)
    write_run(make_run(SECOND))
    publish_failing_at_the_pca_switch(
        monkeypatch, publish_event(load_event, SECOND, "2025-03-14T10:15:01Z"), context
    )
    assert table(session, "rejects")["StorageDescriptor"]["Location"].endswith(
        f"run_id={SECOND}/"
    )  # half done
    failure = load_event("record_failure.json")
    failure["run_id"] = SECOND
    catalog.record_failure_handler(failure, context)

    for name in ("pca", "rejects"):
        assert table(session, name)["StorageDescriptor"]["Location"].endswith(f"/{name}/run_id={FIRST}/")
        assert table(session, name)["Parameters"][PUBLISHED_RUN] == FIRST


def test_a_first_publish_that_failed_half_way_leaves_no_rejects_table(
    session, make_run, write_run, load_event, context, monkeypatch
):
    write_run(make_run(FIRST))
    publish_failing_at_the_pca_switch(
        monkeypatch, publish_event(load_event, FIRST, "2025-03-14T09:28:01Z"), context
    )
    failure = load_event("record_failure.json")
    failure["run_id"] = FIRST
    catalog.record_failure_handler(failure, context)

    names = {t["Name"] for t in session.client("glue").get_tables(DatabaseName=DATABASE)["TableList"]}
    assert "rejects" not in names and "pca" not in names


def test_failed_run_is_recorded_and_published_run_untouched(
    session, make_run, write_run, load_event, context
):
    write_run(make_run(FIRST))
    catalog.lambda_handler(publish_event(load_event, FIRST, "2025-03-14T09:28:01.123Z"), context)
    failure = load_event("record_failure.json")
    failure["run_id"] = SECOND

    result = catalog.record_failure_handler(failure, context)

    assert result["status"] == "failed"
    row = record(session, SECOND)
    assert (row["status"], row["published"], row["error"]) == ("failed", False, "RunValidationError")
    assert (
        row["cause"]
        == "run orchard-20250314T092655Z-3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c is invalid: pca: 1 NaN/inf value(s)"
    )
    assert row["job_run_id"] == "00fjobrunexample"
    assert table(session, "pca")["StorageDescriptor"]["Location"] == f"{RESULTS}/pca/run_id={FIRST}/"
    assert partitions(session, "pca_history") == [[FIRST]]


def test_failure_before_any_run_creates_the_runs_table(session, context):
    event = {
        "run_id": "manual-1",
        "started_at": "2025-03-14T09:28:01.123Z",
        "output": RESULTS,
        "state": {},
        "error": {"Error": "InvalidInput", "Cause": "The execution input must be ..."},
    }

    catalog.record_failure_handler(event, context)

    assert table(session, "runs")["StorageDescriptor"]["Location"] == f"{RESULTS}/run_records/"
    assert record(session, "manual-1")["cause"] == "The execution input must be ..."
