"""A run's end announced on the stack's notification topic, and its metrics (docs/aws.md, "Alarms and
notifications").

- A failed run: its run id, error and cause, and a way to its page (``runs/run_id=<id>/report.html`` under the
  results root): a presigned URL when the job wrote the page, else its S3 URI and the ``orchard report``
  command that links it. With NotifyOnPublish, a published run too.
- Metrics in CloudWatch's embedded metric format (Powertools): images published, rejected and featurized, run
  seconds and estimated cost of a published run; RunsFailed of a failed one. Dimensions: service and stack.

Neither ever fails the step that calls it: what cannot be sent is logged (a failed execution still raises the
ExecutionsFailed alarm).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from orchard_contract.layout import S3Uri
from orchard_contract.run_page import run_page_path
from orchard_contract.times import parse_time

logger = Logger(child=True)

# What a presigned link asks for; it lives no longer than the session credentials that signed it.
PAGE_LINK_SECONDS = 12 * 60 * 60
SUBJECT_LIMIT = 100  # SNS refuses a longer subject
SIGV4 = Config(signature_version="s3v4")  # a presigned URL signed with session credentials needs SigV4
NAMESPACE = "Orchard"  # the template sets POWERTOOLS_METRICS_NAMESPACE to it as well


@dataclass(frozen=True)
class Topic:
    arn: str
    stack: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Topic | None:
        """The function's topic; None where it has none (the catalog without NotifyOnPublish)."""
        arn = env.get("NOTIFICATION_TOPIC_ARN", "")
        return cls(arn, env.get("STACK_NAME", "")) if arn else None


def page_link(s3: Any, root: S3Uri, run_id: str, stack: str) -> str:
    """A line leading to the run's page: presigned when the job wrote it; else where it would be, and how to
    link it later. Listed, not HEAD: a HEAD of a missing key answers 403 to a role that may not list."""
    key = run_page_path(root.key, run_id)
    listed = s3.list_objects_v2(Bucket=root.bucket, Prefix=key, MaxKeys=1)
    if any(item["Key"] == key for item in listed.get("Contents", [])):
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": root.bucket, "Key": key}, ExpiresIn=PAGE_LINK_SECONDS
        )
        return f"Run page (a link that expires within hours): {url}"
    command = f"orchard report {run_id}" + (f" --stack {stack}" if stack else "")
    return f"Run page: s3://{root.bucket}/{key} (not written yet; once it is, `{command}` links it)"


def failure_message(run_id: str, error: tuple[str, str], page: str, stack: str) -> tuple[str, str]:
    subject = f"Orchard run {run_id} failed"
    lines = [
        f"Orchard run {run_id} failed" + (f" (stack {stack})." if stack else "."),
        f"Error: {error[0]}",
        f"Cause: {error[1] or '(none given)'}",
        page,
    ]
    return subject, "\n".join(lines)


def published_message(record: Mapping[str, Any], page: str, stack: str) -> tuple[str, str]:
    run_id, cost = record["run_id"], record.get("estimated_cost_usd")
    subject = f"Orchard run {run_id} published"
    lines = [
        f"Orchard run {run_id} was published" + (f" (stack {stack})." if stack else "."),
        f"Images in the snapshot: {record.get('in_pca')}, rejected: {record.get('rejected')}, "
        f"featurized this run: {record.get('featurized_this_run')}.",
        f"Estimated cost: {'unknown' if cost is None else f'{cost:.4f} USD'}.",
        page,
    ]
    return subject, "\n".join(lines)


def publish(
    session: boto3.Session, topic: Topic, root: S3Uri, run_id: str, compose: Callable[[str], tuple[str, str]]
) -> str | None:
    """Link the page, compose (subject, message) from that line, publish; the message id, or None when it
    could not be sent (logged)."""
    try:
        page = page_link(session.client("s3", config=SIGV4), root, run_id, topic.stack)
        subject, message = compose(page)
        answer = session.client("sns").publish(
            TopicArn=topic.arn, Subject=ascii_subject(subject), Message=message
        )
    except (BotoCoreError, ClientError):
        logger.exception("the run's notification could not be sent", extra={"run_id": run_id})
        return None
    message_id: str = answer["MessageId"]
    return message_id


def notify_failed(
    session: boto3.Session, topic: Topic | None, root: S3Uri, run_id: str, error: tuple[str, str]
) -> str | None:
    if topic is None:
        return None
    return publish(
        session, topic, root, run_id, lambda page: failure_message(run_id, error, page, topic.stack)
    )


def notify_published(
    session: boto3.Session, topic: Topic | None, root: S3Uri, record: Mapping[str, Any]
) -> str | None:
    if topic is None or not record.get("published"):
        return None
    return publish(
        session, topic, root, record["run_id"], lambda page: published_message(record, page, topic.stack)
    )


def ascii_subject(subject: str) -> str:
    """SNS takes a subject of printable ASCII without line breaks, at most SUBJECT_LIMIT characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in subject)
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def run_metrics(record: Mapping[str, Any]) -> dict[str, tuple[float, MetricUnit]]:
    """A published run's figures (those its record has)."""
    counts = {
        "ImagesPublished": record.get("in_pca"),
        "ImagesRejected": record.get("rejected"),
        "ImagesFeaturized": record.get("featurized_this_run"),
    }
    found = {name: (float(v), MetricUnit.Count) for name, v in counts.items() if v is not None}
    if record.get("started_at") and record.get("recorded_at"):
        took = parse_time(record["recorded_at"]) - parse_time(record["started_at"])
        found["RunSeconds"] = (took.total_seconds(), MetricUnit.Seconds)
    if record.get("estimated_cost_usd") is not None:
        found["EstimatedCostUsd"] = (float(record["estimated_cost_usd"]), MetricUnit.NoUnit)
    return found


def failure_metrics() -> dict[str, tuple[float, MetricUnit]]:
    return {"RunsFailed": (1.0, MetricUnit.Count)}


def emit_metrics(values: Mapping[str, tuple[float, MetricUnit]], env: Mapping[str, str] = os.environ) -> None:
    """One embedded-format record on stdout (CloudWatch Logs turns it into metrics); own instance per call,
    so two functions in one process never mix their metrics."""
    metrics = EphemeralMetrics(
        namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE),
        service=env.get("POWERTOOLS_SERVICE_NAME"),
    )
    metrics.add_dimension("stack", env.get("STACK_NAME") or "unknown")
    for name, (value, unit) in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()
