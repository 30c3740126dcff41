"""`orchard erase KEY_OR_PREFIX --stack NAME|local`: delete images now, and what derives from them at the next
publish (docs/guarantees.md, "Erasure").

The images are deleted with the caller's own credentials (no stack role may delete under the images prefix);
then an erasure request goes under ``<results>/erasures/``. The deletions start a run as any deletion does;
the first run started after the request that is published answers it: its turn removes every other run's
history and every cache partition its snapshot does not use (functions/catalog/erasure.py), then the request.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchard import stacks
from orchard_contract.layout import ERASURES_FOLDER, S3Uri, erasure_request
from orchard_contract.times import time_text

MAX_KEYS_PER_DELETE = 1000  # DeleteObjects' limit


def add_erase_flags(parser: argparse.ArgumentParser, state: Path) -> None:
    parser.add_argument("target", help="an image's key, or a folder of them, under the upload prefix")
    stacks.add_stack_flags(parser)
    parser.add_argument("--state", type=Path, default=state, help="the local stack's state folder")


def erase_command(args: argparse.Namespace) -> int:
    """Local: the deletions' run follows at once. AWS: it starts after the batching window."""
    try:
        if stacks.is_local(args.stack):
            return erase_local(args.state, args.target)
        session = stacks.session(args.region)
        deployment = stacks.orchard_stack(session.client("cloudformation"), args.stack)
        outputs = deployment.outputs
        keys, request = erase(
            session.client("s3"), outputs["UploadPrefix"], outputs["ResultsLocation"], args.target
        )
    except (FileNotFoundError, PermissionError, stacks.StackNotFoundError) as e:
        print(f"erase: {e}", file=sys.stderr)
        return 2
    print(f"deleted {len(keys)} image(s); erasure request s3://{S3Uri.parse(outputs['ResultsLocation']).bucket}/"
          f"{request}: the next published run removes what derives from them, then the request")  # fmt: skip
    return 0


def erase_local(state: Path, target: str) -> int:
    from orchard.local.run import local_stack, run_pending
    from orchard.local.state import catalog_path

    if not catalog_path(state).exists():
        raise FileNotFoundError(f"no local stack state under {state}: run `orchard demo` first")
    with local_stack(state, echo=False) as stack:
        outputs = stack.outputs
        keys, request = erase(stack.client("s3"), outputs["UploadPrefix"], outputs["ResultsLocation"], target)
        executions = run_pending(stack)
        answered = not stack.client("s3").list_objects_v2(Bucket=outputs["BucketName"], Prefix=request)[
            "KeyCount"
        ]
    ended = ", ".join(f"{e.run_id}: {e.status}" for e in executions) or "no run"
    print(f"deleted {len(keys)} image(s); {ended}; erasure {'done' if answered else 'pending: ' + request}")
    return 0 if answered else 1


def images_at(s3: Any, upload: S3Uri, target: str) -> list[str]:
    """The image keys the target names: one key, or every key in the folder it names."""
    relative = target.removeprefix(f"s3://{upload.bucket}/").removeprefix(upload.key + "/").lstrip("/")
    key = f"{upload.key}/{relative}"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=upload.bucket, Prefix=key)
    found = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return [k for k in found if k == key or k.startswith(key.rstrip("/") + "/")]


def erase(
    s3: Any, upload_uri: str, results_uri: str, target: str, now: datetime | None = None
) -> tuple[list[str], str]:
    """Delete the images, then leave the request; (the keys deleted, the request's key)."""
    upload, results = S3Uri.parse(upload_uri), S3Uri.parse(results_uri)
    keys = images_at(s3, upload, target)
    if not keys:
        raise FileNotFoundError(f"no image at s3://{upload.bucket}/{upload.key}/{target.lstrip('/')}")
    for start in range(0, len(keys), MAX_KEYS_PER_DELETE):
        batch = [{"Key": key} for key in keys[start : start + MAX_KEYS_PER_DELETE]]
        answer = s3.delete_objects(Bucket=upload.bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            raise PermissionError(f"could not delete {answer['Errors'][0]}")
    requested_at = time_text(now or datetime.now(UTC))
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    request = f"{results.key}/{ERASURES_FOLDER}/{requested_at.replace(':', '')}-{digest}.json"
    s3.put_object(Bucket=results.bucket, Key=request, Body=erasure_request(keys, requested_at))
    return keys, request
