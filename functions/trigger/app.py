"""Turn a batch of S3 upload and delete events (SQS-wrapped or direct) into one manifest and one execution.

The manifest lists the batch's images as raw ``s3://bucket/key`` URIs (a deleted one as a ``# removed``
comment: the run's full listing drops it). Each line follows a comment with the object's eTag and sequencer,
so the manifest text, and the execution name derived from it, identify this exact set of events: a
redelivered batch maps to the same name (Step Functions refuses a second execution), while a later re-upload
of the same key is a new run. A redelivered batch whose run failed starts a retry run, ``<name>-r2``...
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from orchard_contract.images import is_image
from orchard_contract.times import RUN_ID_TIME_FORMAT, parse_time

logger = Logger()

EXECUTION_NAME_PREFIX = "orchard"
MAX_ATTEMPTS = 9  # runs per batch: the first and up to 8 retries after failures
ENDED_WITHOUT_SUCCESS = {"FAILED", "TIMED_OUT", "ABORTED"}


class MalformedMessageError(ValueError):
    """An SQS message whose body is not an S3 event notification."""


class RetriesExhaustedError(RuntimeError):
    """Every run of this batch failed; its messages go back to the queue (and on to the dead-letter queue)."""


@dataclass(frozen=True)
class Config:
    bucket: str
    images_prefix: str
    manifests_prefix: str
    state_machine_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        return cls(
            bucket=env["BUCKET_NAME"],
            images_prefix=env.get("IMAGES_PREFIX", "images/"),
            manifests_prefix=env.get("MANIFESTS_PREFIX", "manifests/"),
            state_machine_arn=env["STATE_MACHINE_ARN"],
        )


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    etag: str
    sequencer: str
    event_time: str
    removed: bool = False

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class Batch:
    """The images of one Lambda invocation and the SQS messages that carried them."""

    uploads: list[Upload] = field(default_factory=list)
    image_message_ids: list[str] = field(default_factory=list)
    failed_message_ids: list[str] = field(default_factory=list)


def s3_records(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The S3 records of a notification; ``s3:TestEvent`` (sent when notifications are set up) has none."""
    if body.get("Event") == "s3:TestEvent":
        logger.info("ignoring s3:TestEvent", extra={"bucket": body.get("Bucket")})
        return []
    records = body.get("Records")
    if not isinstance(records, list):
        raise MalformedMessageError("no Records in S3 notification")
    return records


def upload_from_record(record: Mapping[str, Any]) -> Upload:
    try:
        s3 = record["s3"]
        return Upload(
            bucket=s3["bucket"]["name"],
            # S3 URL-encodes keys in notifications (space as '+'): decode exactly once.
            key=unquote_plus(s3["object"]["key"]),
            etag=s3["object"].get("eTag", ""),
            sequencer=s3["object"].get("sequencer", ""),
            event_time=record.get("eventTime", ""),
            removed=str(record.get("eventName", "")).startswith("ObjectRemoved"),
        )
    except (KeyError, TypeError) as e:
        raise MalformedMessageError(f"not an S3 event record: missing {e}") from e


def belongs_to_batch(upload: Upload, config: Config) -> bool:
    """An image under this stack's upload folder, that one manifest line can name."""
    if upload.bucket != config.bucket:
        logger.warning("ignoring key from another bucket", extra={"uri": upload.uri})
        return False
    if upload.key.endswith("/"):
        logger.info("ignoring folder marker", extra={"key": upload.key})
        return False
    if not upload.key.startswith(config.images_prefix) or not is_image(upload.key):
        logger.info("ignoring non-image key", extra={"key": upload.key})
        return False
    if "\n" in upload.key or "\r" in upload.key:
        # The manifest is line-oriented; the job's --input listing still picks such a key up.
        logger.warning("key with a line break left to the next full listing", extra={"key": upload.key})
        return False
    return True


def collect(event: Mapping[str, Any], config: Config) -> Batch:
    """Parse SQS-wrapped or direct S3 notifications; a malformed SQS message fails alone."""
    batch = Batch()
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            message_id = record["messageId"]
            try:
                uploads = [upload_from_record(r) for r in s3_records(json.loads(record["body"]))]
            except (MalformedMessageError, json.JSONDecodeError) as e:
                logger.error("malformed message", extra={"message_id": message_id, "error": str(e)})
                batch.failed_message_ids.append(message_id)
                continue
            images = [u for u in uploads if belongs_to_batch(u, config)]
            if images:
                batch.uploads.extend(images)
                batch.image_message_ids.append(message_id)
        else:
            upload = upload_from_record(record)
            if belongs_to_batch(upload, config):
                batch.uploads.append(upload)
    return batch


def latest_per_key(uploads: list[Upload]) -> list[Upload]:
    """One entry per key: the newest upload by S3's sequencer (hex, compared left-padded), sorted by URI."""
    latest: dict[str, Upload] = {}
    for upload in uploads:
        seen = latest.get(upload.uri)
        if seen is None or upload.sequencer.rjust(32, "0") > seen.sequencer.rjust(32, "0"):
            latest[upload.uri] = upload
    return sorted(latest.values(), key=lambda u: u.uri)


def manifest_text(uploads: list[Upload]) -> str:
    removed = sum(upload.removed for upload in uploads)
    lines = [f"# orchard upload batch: {len(uploads) - removed} image(s), {removed} removed"]
    for upload in uploads:
        lines.append(f"# etag={upload.etag} sequencer={upload.sequencer}")
        lines.append(f"# removed {upload.uri}" if upload.removed else upload.uri)
    return "\n".join(lines) + "\n"


def execution_name(manifest: str, uploads: list[Upload]) -> str:
    """``orchard-<latest upload time>-<manifest digest>``: sortable, 49 chars of [A-Za-z0-9-].

    The name is also the run id and the EMR Serverless ClientToken, which allows at most 64 characters.
    """
    stamp = max((parse_event_time(u.event_time) for u in uploads), default=datetime.fromtimestamp(0, UTC))
    digest = hashlib.sha256(manifest.encode()).hexdigest()[:32]
    return f"{EXECUTION_NAME_PREFIX}-{stamp.strftime(RUN_ID_TIME_FORMAT)}-{digest}"


def parse_event_time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def start_run(uploads: list[Upload], config: Config, session: boto3.Session) -> dict[str, Any]:
    """Write the batch manifest and start its execution; an existing execution of that name counts."""
    unique = latest_per_key(uploads)
    text = manifest_text(unique)
    name = execution_name(text, unique)
    manifest_key = f"{config.manifests_prefix}{name}.txt"
    manifest_uri = f"s3://{config.bucket}/{manifest_key}"
    session.client("s3").put_object(
        Bucket=config.bucket, Key=manifest_key, Body=text.encode(), ContentType="text/plain; charset=utf-8"
    )
    removed = sum(upload.removed for upload in unique)
    execution_input = {
        "manifest": manifest_uri,
        "image_count": len(unique) - removed,
        "removed_count": removed,
    }
    name, execution_arn, started = start_or_find(name, execution_input, config, session)
    logger.info(
        "run started" if started else "run already started",
        extra={"execution": execution_arn, "manifest": manifest_uri, "images": len(unique)},
    )
    return {
        "execution_name": name,
        "execution_arn": execution_arn,
        "manifest": manifest_uri,
        "started": started,
    }


def start_or_find(
    name: str, execution_input: Mapping[str, Any], config: Config, session: boto3.Session
) -> tuple[str, str, bool]:
    """(name, arn, started): the batch's run, started unless it ran or runs; a failed run gets a retry."""
    sfn = session.client("stepfunctions")
    executions = config.state_machine_arn.replace(":stateMachine:", ":execution:")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        attempt_name = name if attempt == 1 else f"{name}-r{attempt}"
        arn = f"{executions}:{attempt_name}"
        try:
            sfn.start_execution(
                stateMachineArn=config.state_machine_arn, name=attempt_name, input=json.dumps(execution_input)
            )
            return attempt_name, arn, True
        except ClientError as e:
            if e.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
        if sfn.describe_execution(executionArn=arn)["status"] not in ENDED_WITHOUT_SUCCESS:
            return attempt_name, arn, False
    raise RetriesExhaustedError(f"{name} failed {MAX_ATTEMPTS} times; see the runs table for the causes")


def handle(event: Mapping[str, Any], config: Config, session: boto3.Session) -> dict[str, Any]:
    """SQS events answer with ``batchItemFailures``: a failed start fails every image message, none is lost.

    Direct S3 events raise instead, so Lambda's asynchronous retry applies.
    """
    batch = collect(event, config)
    failed = list(batch.failed_message_ids)
    run: dict[str, Any] | None = None
    if batch.uploads:
        try:
            run = start_run(batch.uploads, config, session)
        except (ClientError, BotoCoreError, RetriesExhaustedError):
            if not batch.image_message_ids:
                raise
            logger.exception("could not start the run; the batch's messages will be redelivered")
            failed.extend(batch.image_message_ids)
    else:
        logger.info("no images in this batch")
    response: dict[str, Any] = {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
    if run is not None:
        response["run"] = run
    return response


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, Config.from_env(), boto3.Session())
