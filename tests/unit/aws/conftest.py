"""Fixtures for the AWS application's tests: moto-backed AWS, event fixtures, and real run outputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_support import (
    BUCKET,
    DATABASE,
    REGION,
    REPO,
    RESULTS,
    TEMPLATE,
    LambdaContext,
    RunOutputs,
    parquet_bytes,
    sample_run,
)
from iam_roles import transform_template
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse

from orchard.local.run import local_stack
from orchard.local.template import Resolver
from orchard_contract.layout import S3Uri, report_path, run_path
from orchard_contract.tables import FEATURES, PCA, REJECTS

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/orchard:1"


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((REPO / "events" / name).read_text())
        return event

    return load


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A boto3 session on moto with the bucket and Glue database the template creates."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        aws = boto3.Session(region_name=REGION)
        aws.client("s3").create_bucket(Bucket=BUCKET)
        aws.client("glue").create_database(DatabaseInput={"Name": DATABASE})
        yield aws


@pytest.fixture
def make_run() -> Callable[..., RunOutputs]:
    """sample_run(run_id, images=4, rejected=1, k=3): outputs to edit before write_run."""
    return sample_run


@pytest.fixture
def write_run(session: boto3.Session) -> Callable[[RunOutputs], None]:
    s3 = session.client("s3")
    root = S3Uri.parse(RESULTS).key

    def write(run: RunOutputs) -> None:
        for spec, table in ((PCA, run.pca), (REJECTS, run.rejects), (FEATURES, run.features)):
            s3.put_object(Bucket=BUCKET, Key=run_path(root, spec.dataset, run.run_id, "_SUCCESS"), Body=b"")
            if table.num_rows:
                part = run_path(root, spec.dataset, run.run_id, "part-00000-c000.snappy.parquet")
                s3.put_object(Bucket=BUCKET, Key=part, Body=parquet_bytes(table))
        report = json.dumps(run.report, indent=2).encode()
        s3.put_object(Bucket=BUCKET, Key=report_path(root, run.run_id), Body=report)

    return write


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation receives after `sam package` (S3 code URIs) and the SAM transform."""
    return transform_template(template, {"ImageUri": IMAGE})


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resolver]:
    """The local stack's resolver: the physical ids (moto ARNs) of what it deployed."""
    state = tmp_path_factory.mktemp("iam") / "state"
    with local_stack(Path(state), {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        yield stack.resolver
