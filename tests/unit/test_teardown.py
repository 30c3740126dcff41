"""`orchard aws-teardown`: the stack and the bucket it retains, emptied of every version, both gone."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from deploy_support import REGION, create_stack, moto_account

from orchard.cli import main


def fill(s3, bucket: str) -> None:
    """Objects with older versions and a delete marker: what a bucket with versioning holds."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in ("images/Apple/1.jpg", "images/Apple/2.jpg", "results/pca/run_id=r1/part-0.parquet"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"first")
        s3.put_object(Bucket=bucket, Key=key, Body=b"second")
    s3.delete_object(Bucket=bucket, Key="images/Apple/2.jpg")


def test_teardown_deletes_the_stack_and_its_retained_bucket(monkeypatch, capsys):
    with moto_account(monkeypatch) as session:
        s3, cloudformation = session.client("s3"), session.client("cloudformation")
        bucket = create_stack(session, "orchard-ci-1")
        fill(s3, bucket)
        cloudformation.delete_stack(StackName="orchard-ci-1")  # a plain delete keeps the bucket ...
        s3.head_bucket(Bucket=bucket)
        bucket = create_stack(session, "orchard-ci-1")  # ... so the test deploys again
        fill(s3, bucket)

        assert main(["aws-teardown", "--stack", "orchard-ci-1", "--region", REGION, "--yes"]) == 0

        with pytest.raises(ClientError, match="does not exist"):
            cloudformation.describe_stacks(StackName="orchard-ci-1")
        with pytest.raises(ClientError, match=r"404|Not Found"):
            s3.head_bucket(Bucket=bucket)
    assert (
        f"bucket {bucket} emptied (7 object versions and delete markers) and deleted"
        in capsys.readouterr().out
    )


def test_without_yes_nothing_is_deleted(monkeypatch, capsys):
    with moto_account(monkeypatch) as session:
        bucket = create_stack(session, "orchard-ci-2")
        assert main(["aws-teardown", "--stack", "orchard-ci-2", "--region", REGION]) == 2
        session.client("s3").head_bucket(Bucket=bucket)
        assert session.client("cloudformation").describe_stacks(StackName="orchard-ci-2")["Stacks"]
    assert f"would delete stack orchard-ci-2 (CREATE_COMPLETE) and its retained bucket {bucket}" in (
        capsys.readouterr().out
    )


def test_a_stack_that_was_never_deployed_is_nothing_to_delete(monkeypatch, capsys):
    """The deploy test tears down whether or not its deploy got as far as creating the stack."""
    with moto_account(monkeypatch):
        assert main(["aws-teardown", "--stack", "never-deployed", "--region", REGION, "--yes"]) == 0
    assert "no stack named never-deployed: nothing to delete" in capsys.readouterr().out
