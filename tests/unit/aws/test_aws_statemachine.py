"""The ASL on moto's Step Functions interpreter: it parses, runs the input check and Prepare, fails cleanly.

moto cannot run the emr-serverless .sync integration (the local end-to-end path rebinds that task), so the
happy path stops there; Lambda tasks get moto's canned answers (no Docker).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import boto3
import pytest
from aws_support import BUCKET, REGION, REPO
from moto import mock_aws

from orchard.local.template import fill_placeholders

SUBSTITUTIONS = {
    "BucketName": BUCKET,
    "ImagesPrefix": "images/",
    "ResultsPrefix": "results",
    "ApplicationId": "00fabcdexample",
    "JobRoleArn": "arn:aws:iam::123456789012:role/orchard-job",
    "EntryPoint": "local:///opt/orchard/featurize.py",
    "SparkSubmitParameters": "--conf spark.executor.cores=4",
    "Weights": "imagenet",
    "ImageSize": "224",
    "Runtime": "tflite",
    "PcaFlag": "--k",
    "PcaValue": "20",
    "BasisPolicy": "auto",
    "BasisTolerance": "0.01",
}


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        session = boto3.Session(region_name=REGION)
        iam = session.client("iam")
        role = iam.create_role(RoleName="orchard", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def lambda_handler(event, context):\n    return {}\n")
        substitutions = dict(SUBSTITUTIONS)
        for placeholder in (
            "GateFunctionArn",
            "ValidateFunctionArn",
            "CatalogFunctionArn",
            "RecordFailureFunctionArn",
        ):
            substitutions[placeholder] = session.client("lambda").create_function(
                FunctionName=placeholder.removesuffix("Arn"),
                Runtime="python3.12",
                Role=role,
                Handler="app.lambda_handler",
                Code={"ZipFile": code.getvalue()},
            )["FunctionArn"]
        asl = (REPO / "statemachine" / "orchard.asl.json").read_text()
        definition = fill_placeholders(asl, substitutions)
        client = session.client("stepfunctions")
        created = client.create_state_machine(name="orchard", definition=definition, roleArn=role)
        yield client, created["stateMachineArn"]


def run(sfn: Any, name: str, execution_input: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    client, arn = sfn
    execution = client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(execution_input))
    for _ in range(100):
        described = client.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.05)
    return described, client.get_execution_history(executionArn=execution["executionArn"])["events"]


def entered(events: list[dict[str, Any]]) -> list[str]:
    return [d["name"] for e in events for k, d in e.items() if k == "stateEnteredEventDetails"]


def test_invalid_input_is_recorded_and_fails(sfn):
    described, events = run(sfn, "manual-1", {"images": ["a.jpg"]})

    assert entered(events) == ["CheckInput", "RejectInput", "RecordFailure", "RunFailed"]
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput")


def test_prepare_builds_the_job_arguments_from_the_execution(sfn):
    name = "orchard-20250314T092655Z-3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"
    manifest = f"s3://{BUCKET}/manifests/{name}.txt"

    _, events = run(sfn, name, {"manifest": manifest, "image_count": 3})

    assert entered(events)[:2] == ["CheckInput", "Prepare"]
    [prepared] = [
        json.loads(e["stateExitedEventDetails"]["output"])["run"]
        for e in events
        if e.get("stateExitedEventDetails", {}).get("name") == "Prepare"
    ]
    assert prepared["run_id"] == name
    assert prepared["output"] == f"s3://{BUCKET}/results"
    assert prepared["arguments"] == [
        "--input", f"s3://{BUCKET}/images/",
        "--manifest", manifest,
        "--output", f"s3://{BUCKET}/results",
        "--run-id", name,
        "--weights", "imagenet",
        "--image-size", "224",
        "--runtime", "tflite",
        "--k", "20",
        "--basis", "auto",
        "--basis-tolerance", "0.01",
    ]  # fmt: skip
