"""moto as the caller's AWS account for the deployed-stack commands (`--stack`, aws-check's AWS edge,
aws-teardown), and a small stack shaped like Orchard's: a retained bucket, the outputs the commands read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
OUTPUTS = ("UploadPrefix", "StateMachineArn", "EmrApplicationId", "AthenaWorkGroupName", "GlueDatabaseName")


@contextmanager
def moto_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def template(*, outputs: bool = True) -> str:
    """A bucket kept on stack deletion (as template.yaml's) and, unless told otherwise, Orchard's outputs."""
    body: dict[str, Any] = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}},
        "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}},
    }
    if outputs:
        body["Outputs"] |= {name: {"Value": f"{name}-value"} for name in OUTPUTS}
    return json.dumps(body)


def create_stack(session: boto3.Session, name: str, *, outputs: bool = True) -> str:
    """Deploy the small stack; returns its bucket's name."""
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=template(outputs=outputs))
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "Bucket")
