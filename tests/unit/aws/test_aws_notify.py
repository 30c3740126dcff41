"""functions/catalog/notify.py on moto: the failure and publish notifications (topic -> subscribed queue), the
link to the run's page, and the embedded-format metrics the handlers print."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import notify
import pytest
import requests
from aws_support import BUCKET, DATABASE, RESULTS

from functions.catalog import app as catalog
from orchard_contract.layout import S3Uri

RUN = "orchard-20250314T092655Z-3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"  # events/record_failure.json's
ROOT = S3Uri.parse(RESULTS)
PAGE_KEY = f"results/runs/run_id={RUN}/report.html"  # written out: the page's place, as the issue names it
ERROR = ("EMRServerless.JobRunFailed", "exit code 1")


@pytest.fixture
def inbox(session) -> tuple[str, str]:
    """A topic encrypted with its own key, and the URL of a queue subscribed to it."""
    key = session.client("kms").create_key()["KeyMetadata"]["Arn"]
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="orchard-notifications", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def received(session, queue: str) -> list[dict[str, Any]]:
    messages = session.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_a_failed_run_without_a_page_names_its_place_and_the_command(session, inbox):
    topic, queue = inbox
    sent = notify.notify_failed(session, notify.Topic(topic, "prod"), ROOT, RUN, ERROR)

    [message] = received(session, queue)
    assert sent == message["MessageId"]
    assert message["Subject"] == f"Orchard run {RUN} failed"
    lines = message["Message"].splitlines()
    assert lines[:3] == [
        f"Orchard run {RUN} failed (stack prod).",
        "Error: EMRServerless.JobRunFailed",
        "Cause: exit code 1",
    ]
    assert f"s3://{BUCKET}/{PAGE_KEY}" in lines[3]
    assert f"`orchard report {RUN} --stack prod`" in lines[3]


def test_a_failed_run_with_a_page_links_it_presigned(session, inbox):
    topic, queue = inbox
    session.client("s3").put_object(Bucket=BUCKET, Key=PAGE_KEY, Body=b"<html>the page</html>")
    notify.notify_failed(session, notify.Topic(topic, "prod"), ROOT, RUN, ERROR)

    [message] = received(session, queue)
    url = message["Message"].splitlines()[3].rsplit(" ", 1)[-1]
    parsed = urlparse(url)
    assert unquote(parsed.path).endswith(f"/{PAGE_KEY}")
    assert parse_qs(parsed.query)["X-Amz-Expires"] == [str(notify.PAGE_LINK_SECONDS)]
    assert requests.get(url, timeout=10).content == b"<html>the page</html>"


def test_a_page_of_another_run_with_the_same_prefix_is_not_taken_for_this_ones(session):
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key=PAGE_KEY + ".bak", Body=b"x")
    assert notify.page_link(s3, ROOT, RUN, "prod").startswith("Run page: s3://")


def test_a_notification_that_cannot_be_sent_is_logged_not_raised(session, caplog):
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    assert notify.notify_failed(session, notify.Topic(missing, "prod"), ROOT, RUN, ERROR) is None
    assert "could not be sent" in caplog.text


def test_no_topic_sends_nothing(session):
    assert notify.notify_failed(session, None, ROOT, RUN, ERROR) is None
    assert notify.Topic.from_env({"NOTIFICATION_TOPIC_ARN": ""}) is None
    assert notify.Topic.from_env({"NOTIFICATION_TOPIC_ARN": "arn:t", "STACK_NAME": "s"}) == notify.Topic(
        "arn:t", "s"
    )


def test_only_a_published_run_is_announced_as_published(session, inbox):
    topic, queue = inbox
    record = {"run_id": RUN, "published": False, "in_pca": 7, "rejected": 1, "featurized_this_run": 3}
    assert notify.notify_published(session, notify.Topic(topic, "prod"), ROOT, record) is None
    assert received(session, queue) == []

    notify.notify_published(session, notify.Topic(topic, "prod"), ROOT, {**record, "published": True})
    [message] = received(session, queue)
    assert message["Subject"] == f"Orchard run {RUN} published"
    assert "Images in the snapshot: 7, rejected: 1, featurized this run: 3." in message["Message"]
    assert "Estimated cost: unknown." in message["Message"]


def test_a_subject_is_printable_ascii_within_the_limit():
    subject = notify.ascii_subject("run \u00e9t\u00e9\nfailed " + "x" * 200)
    assert len(subject) == notify.SUBJECT_LIMIT
    assert subject.startswith("run ?t??failed x") and subject.endswith("...")
    assert notify.ascii_subject("short") == "short"


def emitted(capsys) -> dict[str, Any]:
    [line] = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    parsed: dict[str, Any] = json.loads(line)
    return parsed


ENV = {
    "POWERTOOLS_SERVICE_NAME": "orchard-catalog",
    "STACK_NAME": "prod",
    "POWERTOOLS_METRICS_NAMESPACE": "Orchard",
}


def test_a_published_runs_metrics_in_embedded_format(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    record = {
        "in_pca": 90,
        "rejected": 4,
        "featurized_this_run": 12,
        "started_at": "2025-03-14T09:28:01Z",
        "recorded_at": "2025-03-14T09:35:31Z",
        "estimated_cost_usd": 0.0421,
    }
    notify.emit_metrics(notify.run_metrics(record), ENV)

    blob = emitted(capsys)
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Orchard"
    assert sorted(directive["Dimensions"][0]) == ["service", "stack"]
    assert (blob["service"], blob["stack"]) == ("orchard-catalog", "prod")
    took = (
        datetime(2025, 3, 14, 9, 35, 31, tzinfo=UTC) - datetime(2025, 3, 14, 9, 28, 1, tzinfo=UTC)
    ).seconds
    expected = {"ImagesPublished": 90, "ImagesRejected": 4, "ImagesFeaturized": 12, "RunSeconds": took,
                "EstimatedCostUsd": 0.0421}  # fmt: skip
    assert {name: blob[name] for name in expected} == {name: [value] for name, value in expected.items()}
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["RunSeconds"] == "Seconds" and units["ImagesPublished"] == "Count"


def test_a_record_without_figures_emits_only_what_it_has():
    assert notify.run_metrics({"in_pca": 0, "rejected": None}) == {
        "ImagesPublished": (0.0, notify.MetricUnit.Count)
    }


def test_record_failure_records_announces_and_counts_the_failure(
    session, inbox, load_event, context, monkeypatch, capsys
):
    topic, queue = inbox
    for name, value in {**ENV, "NOTIFICATION_TOPIC_ARN": topic, "DATABASE_NAME": DATABASE}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "orchard-record-failure")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)

    result = catalog.record_failure_handler(load_event("record_failure.json"), context)

    assert result["status"] == "failed"
    [message] = received(session, queue)
    assert message["Subject"] == f"Orchard run {RUN} failed"
    assert "Error: RunValidationError" in message["Message"]
    assert f"Cause: run {RUN} is invalid: pca: 1 NaN/inf value(s)" in message["Message"]
    blob = emitted(capsys)
    assert (blob["RunsFailed"], blob["service"], blob["stack"]) == ([1.0], "orchard-record-failure", "prod")
