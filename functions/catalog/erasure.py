"""Erasure requests: what ``orchard erase`` asks of the next publish, after deleting the images itself.

Deleting images is the bucket owner's (no stack role may delete under the images prefix), so ``orchard erase``
deletes them with the caller's credentials, then leaves a request under ``<results>/erasures/``. The deletions
start a run as any deletion does; its listing no longer holds the images, so its snapshot does not either.
When a run that started after the request is published, its turn retires every other run's history and drops
every cache partition its snapshot does not use (the scheduled retention's code, keeping nothing else), and
then removes the request. What derives from the images is then gone from S3 and Glue, apart from the logs
(expired after LogRetentionDays). The run pages' thumbnails too: a page (runs/run_id=<id>/report.html) shows
only its own run's images and goes with that run's runs/ folder, and the answering run's page was built from a
listing without the erased images (tests/unit/local/test_local_erasure_pages.py). A request whose work a turn
could not finish (at most MAX_RUNS_PER_TURN runs per turn) stays for the next publish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchard_contract.layout import ERASURES_FOLDER, S3Uri
from orchard_contract.times import parse_time


@dataclass(frozen=True)
class ErasureRequest:
    key: str
    requested_at: datetime


def erasure_requests(s3: Any, root: S3Uri) -> list[ErasureRequest]:
    prefix = f"{root.key}/{ERASURES_FOLDER}/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=root.bucket, Prefix=prefix)
    requests = []
    for key in (o["Key"] for page in pages for o in page.get("Contents", [])):
        body = json.loads(s3.get_object(Bucket=root.bucket, Key=key)["Body"].read())
        requests.append(ErasureRequest(key, parse_time(body["requested_at"])))
    return requests


def answered_by(requests: list[ErasureRequest], started_at: datetime) -> list[ErasureRequest]:
    """The requests a run answers: made before it started, so its listing came after their deletions."""
    return [request for request in requests if request.requested_at <= started_at]


def remove(s3: Any, root: S3Uri, requests: list[ErasureRequest], *manifests: str) -> None:
    """The answered requests, and the manifests that named what they erased (the requests last)."""
    for key in [*manifests, *(request.key for request in requests)]:
        s3.delete_object(Bucket=root.bucket, Key=key)
