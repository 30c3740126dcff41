"""The catalog step's status block on the run page (functions/catalog/run_page_status.py), on moto S3."""

from __future__ import annotations

import pytest
import run_page_status
from aws_support import BUCKET, DATABASE, RESULTS

from functions.catalog import app as catalog
from orchard_contract.layout import S3Uri
from orchard_contract.run_page import STATUS_BEGIN, STATUS_END, run_page_path

FIRST = "orchard-20250314T092655Z-00000000000000000000000000000001"
SECOND = "orchard-20250314T101500Z-00000000000000000000000000000002"
PENDING = f"<html><body><h1>run</h1>{STATUS_BEGIN}<div>written by the job</div>{STATUS_END}" + (
    "<p>rest</p></body></html>"
)


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("DATABASE_NAME", DATABASE)


def put_page(session, run_id: str) -> str:
    key = run_page_path(S3Uri.parse(RESULTS).key, run_id)
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=PENDING.encode())
    return key


def page(session, key: str) -> str:
    return session.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def status_of(text: str) -> str:
    return text[text.index(STATUS_BEGIN) + len(STATUS_BEGIN) : text.index(STATUS_END)]


def test_a_published_run_shows_published_and_its_cost(session, make_run, write_run, load_event, context):
    write_run(make_run(FIRST))
    key = put_page(session, FIRST)
    event = load_event("catalog.json")
    event.update(run_id=FIRST, started_at="2025-03-14T09:28:01.123Z")

    result = catalog.lambda_handler(event, context)

    shown = page(session, key)
    assert "Published" in status_of(shown) and "written by the job" not in shown
    assert f"Estimated cost: ${result['estimated_cost_usd']:,.4f}" in status_of(shown)
    assert shown.startswith("<html><body><h1>run</h1>") and shown.endswith("<p>rest</p></body></html>")


def test_a_failed_run_shows_its_error_escaped(session, load_event, context):
    key = put_page(session, SECOND)
    failure = load_event("record_failure.json")
    failure["run_id"] = SECOND

    catalog.record_failure_handler(failure, context)

    status = status_of(page(session, key))
    assert "Failed</b>: RunValidationError" in status and "NaN/inf" in status
    assert "<script" not in run_page_status.status_block(
        {"run_id": "r", "status": "failed", "error": "<script>"}
    )


def test_a_run_without_a_page_gets_none(session, load_event, context):
    failure = load_event("record_failure.json")
    failure["run_id"] = SECOND
    catalog.record_failure_handler(failure, context)
    listed = session.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"results/runs/run_id={SECOND}/")
    assert listed["KeyCount"] == 0


def test_validated_but_not_published_names_the_published_run_and_unknown_cost() -> None:
    record = {"run_id": FIRST, "status": "succeeded", "published": False, "recorded_at": "t"}
    block = run_page_status.status_block(record, SECOND)
    assert "not published" in block and SECOND in block and "Cost: unknown" in block
