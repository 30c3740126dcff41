"""A failed run announces itself on the notification topic, through the local stack: the template's topic
(under its KMS key, in moto), RecordFailure publishing from the real handler, a queue subscribed to the topic
reading what was sent; and every call that made is allowed for its role by the IAM check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from iam_check import denied, evaluate, lines
from iam_flow import flow_calls
from local_support import images

from orchard.local import notifications
from orchard.local.flow import upload_images
from orchard.local.invoke import LocalFunctionError
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard_contract.run_page import run_page_path

PAGE = b"<!doctype html><title>a run</title>"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with local_stack(tmp_path / "state", {"ImageSize": "96"}, fresh=True, echo=False) as deployed:
        yield deployed


class PageThenFailure:
    """The job writes the run's page, then fails."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def __call__(self, parameters: dict[str, Any], context: Any) -> dict[str, Any]:
        key = run_page_path(self.stack.resolver.parameter("ResultsPrefix"), parameters["Name"])
        self.stack.client("s3").put_object(Bucket=self.stack.outputs["BucketName"], Key=key, Body=PAGE)
        raise LocalFunctionError("EMRServerless.JobRunFailed", "executor lost after the page was written")


def failed_run(stack: LocalStack, folder: Path) -> tuple[str, dict[str, Any]]:
    """One run of one image that fails; its run id and the one notification it sent."""
    upload_images(stack, images(folder, ["Apple/1.jpg"]))
    [execution] = run_pending(stack)
    assert execution.status == "FAILED"
    [notification] = notifications.received(stack)
    return execution.run_id, notification


def test_a_failed_run_notifies_its_run_id_cause_and_page(stack: LocalStack, tmp_path: Path, iam_evaluator):
    stack.functions.inject(JOB_RUNNER, LocalFunctionError("EMRServerless.JobRunFailed", "exit code 1"))
    with flow_calls(stack) as calls:
        run_id, notification = failed_run(stack, tmp_path / "images")

    assert notification["subject"] == f"Orchard run {run_id} failed"
    message = notification["message"]
    assert "Error: EMRServerless.JobRunFailed" in message and "Cause: exit code 1" in message
    page = f"s3://{stack.outputs['BucketName']}/results/runs/run_id={run_id}/report.html"
    assert page in message
    assert f"orchard report {run_id} --stack orchard" in message

    operations = {(c.caller, c.service, c.operation) for c in calls.recorded}
    assert {
        ("orchard-recordfailure", "sns", "Publish"),
        ("orchard-recordfailure", "kms", "Decrypt"),
    } <= operations
    decisions = evaluate(iam_evaluator, calls.deployment, calls.calls())
    assert not denied(decisions), lines(denied(decisions))


def test_a_failed_run_whose_page_exists_links_it_presigned(stack: LocalStack, tmp_path: Path, iam_evaluator):
    stack.functions.add(JOB_RUNNER, PageThenFailure(stack))
    with flow_calls(stack) as calls:
        run_id, notification = failed_run(stack, tmp_path / "images")

    assert "executor lost after the page was written" in notification["message"]
    [link] = [line for line in notification["message"].splitlines() if line.startswith("Run page")]
    url = link.rsplit(" ", 1)[-1]
    assert url.startswith("https://") and "X-Amz-Signature=" in url
    assert requests.get(url, timeout=10).content == PAGE

    presigned = [c for c in calls.recorded if c.origin.endswith("presigned GetObject")]
    assert [c.params["Key"] for c in presigned] == [f"results/runs/run_id={run_id}/report.html"]
    decisions = evaluate(iam_evaluator, calls.deployment, calls.calls())
    assert not denied(decisions), lines(denied(decisions))
