"""Uploads -> S3 notification -> SQS -> trigger -> one execution, on the local stack.

``drain_queue`` plays Lambda's SQS event source mapping with the template's settings: it gathers up to
BatchSize messages, and at most Lambda's 6 MB of event, into one invocation (uploads are finished when it
runs, so the batching window has closed), invokes the trigger through the Lambda Invoke API, and deletes the
messages the function did not report in ``batchItemFailures`` (ReportBatchItemFailures), which stay for
redelivery.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchard.local import template as tpl
from orchard.local.stack import LocalStack

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's invocation payload limit, which also caps an SQS batch


def upload_images(stack: LocalStack, folder: Path) -> list[str]:
    """put_object every <Label>/<name> image of folder under the images prefix; returns the keys."""
    prefix = stack.resolver.parameter("ImagesPrefix")
    s3, keys = stack.client("s3"), []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        key = prefix + path.relative_to(folder).as_posix()
        s3.put_object(Bucket=stack.outputs["BucketName"], Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS poller passes to the function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": tpl.REGION,
            }
            for m in messages
        ]
    }


def receive_batch(stack: LocalStack, batch_size: int) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    messages: list[dict[str, Any]] = []
    size = len(json.dumps(sqs_event([], "")))
    while len(messages) < batch_size:
        received = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=min(10, batch_size - len(messages)),
            AttributeNames=["All"],
        ).get("Messages", [])
        for index, message in enumerate(received):
            size += len(json.dumps(sqs_event([message], ""))) + 1
            if size > MAX_EVENT_BYTES:  # the poller returns what does not fit to the queue
                release(stack, received[index:])
                return messages
            messages.append(message)
        if not received:
            break
    return messages


def release(stack: LocalStack, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again at once (as when their visibility timeout expires)."""
    for start in range(0, len(messages), 10):
        stack.client("sqs").change_message_visibility_batch(
            QueueUrl=stack.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def delete(stack: LocalStack, messages: list[dict[str, Any]]) -> None:
    """Delete received messages (what the poller does for those a function processed)."""
    for start in range(0, len(messages), 10):
        stack.client("sqs").delete_message_batch(
            QueueUrl=stack.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def drain_queue(stack: LocalStack) -> list[dict[str, Any]]:
    """Invoke the trigger with batches until the queue is empty; returns the trigger's responses."""
    source = tpl.sqs_event_source(stack.template, stack.resolver)
    trigger = stack.resolver.refs["TriggerFunction"]
    responses = []
    while messages := receive_batch(stack, int(source["BatchSize"])):
        responses.append(invoke_trigger(stack, trigger, messages, source["Queue"]))
    return responses


def invoke_trigger(stack: LocalStack, trigger: str, messages: list[dict[str, Any]], queue_arn: str) -> Any:
    answer = stack.client("lambda").invoke(
        FunctionName=trigger, Payload=json.dumps(sqs_event(messages, queue_arn)).encode()
    )
    response = json.loads(answer["Payload"].read())
    if answer.get("FunctionError"):
        raise RuntimeError(f"the trigger failed: {response.get('errorMessage')}")
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    delete(stack, [m for m in messages if m["MessageId"] not in failed])
    return response


@dataclass(frozen=True)
class StateVisit:
    name: str
    seconds: float
    outcome: str  # "ok", or the error(s) seen, with retries


def wait_for(stack: LocalStack, execution_arn: str, timeout: float = 1800) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still running after {timeout} s")
        time.sleep(0.2)
    result: dict[str, Any] = described
    return result


def wait_until_entered(stack: LocalStack, execution_arn: str, state: str, timeout: float = 300) -> None:
    """Block until the execution has entered `state` (to act while it is there)."""
    deadline = time.monotonic() + timeout
    while not any(
        e.get("stateEnteredEventDetails", {}).get("name") == state for e in history(stack, execution_arn)
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} did not reach {state} in {timeout} s")
        time.sleep(0.2)


def history(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    sfn, events, token = stack.client("stepfunctions"), [], None
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        if not (token := page.get("nextToken")):
            return events


def visits(events: list[dict[str, Any]]) -> list[StateVisit]:
    """Each state entered, in order, with its duration and the errors its task attempts raised."""
    result: list[StateVisit] = []
    current: tuple[str, datetime, list[str]] | None = None
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            current = (entered["name"], event["timestamp"], [])
        elif current and (attempt := _attempt(event)):
            current[2].append(attempt)
        elif current and event.get("stateExitedEventDetails", {}).get("name") == current[0]:
            name, start, attempts = current
            outcome = " -> ".join(attempts) if attempts else "ok"
            result.append(StateVisit(name, (event["timestamp"] - start).total_seconds(), outcome))
            current = None
    if current:  # a Fail state has no exit event
        result.append(StateVisit(current[0], 0.0, "failed"))
    return result


def _attempt(event: dict[str, Any]) -> str | None:
    """A task attempt's outcome: "ok" or its error name (a retried task has several)."""
    for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails"):
        if key in event:
            return str(event[key].get("error", "error"))
    if "taskSucceededEventDetails" in event or "lambdaFunctionSucceededEventDetails" in event:
        return "ok"
    return None
