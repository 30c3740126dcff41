"""`orchard erase`'s targets (moto): a key or a folder under the upload prefix, never a neighbour's key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from orchard.erase import erase

BUCKET = "orchard-test"
KEYS = ["images/Apple/1.jpg", "images/Apple/2.jpg", "images/Apple Red/1.jpg", "images/Apple.jpg/x.jpg"]


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for key in KEYS:
            client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        yield client


def left(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="images/").get("Contents", []))


@pytest.mark.parametrize(
    ("target", "deleted"),
    [
        ("Apple/1.jpg", ["images/Apple/1.jpg"]),
        ("Apple", ["images/Apple/1.jpg", "images/Apple/2.jpg"]),
        ("Apple/", ["images/Apple/1.jpg", "images/Apple/2.jpg"]),
        ("s3://orchard-test/images/Apple Red/1.jpg", ["images/Apple Red/1.jpg"]),
    ],
)
def test_a_key_or_a_folder_and_nothing_beside_it(s3, target: str, deleted: list[str]) -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    keys, request = erase(s3, f"s3://{BUCKET}/images/", f"s3://{BUCKET}/results", target, now)

    assert keys == deleted and left(s3) == sorted(set(KEYS) - set(deleted))
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=request)["Body"].read())
    assert request.startswith("results/erasures/") and body == {
        "requested_at": "2026-11-29T12:00:00Z",
        "deleted": deleted,
    }


def test_nothing_there_is_an_error_and_leaves_no_request(s3) -> None:
    with pytest.raises(FileNotFoundError, match="no image at s3://orchard-test/images/Kiwi"):
        erase(s3, f"s3://{BUCKET}/images/", f"s3://{BUCKET}/results", "Kiwi")
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("KeyCount")
