"""Uploads -> S3 notification -> SQS -> trigger -> one execution, on the local stack.

``drain_queue`` plays Lambda's SQS event source mapping with the template's settings: it gathers up to
BatchSize messages, and at most Lambda's 6 MB of event, into one invocation (uploads are finished when it
runs, so the batching window has closed), invokes the trigger through the Lambda Invoke API, and deletes the
messages the function did not report in ``batchItemFailures`` (ReportBatchItemFailures), which stay for
redelivery. ``requeue`` delivers what the queue holds late, twice or out of order, as S3 and SQS may.
The executions the trigger starts are watched with ``orchard.local.executions``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchard.local import template as tpl
from orchard.local.stack import LocalStack
from orchard_contract.images import is_image
from orchard_contract.layout import S3Uri

MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's invocation payload limit, which also caps an SQS batch
SQS_BATCH = 10  # the most messages one SQS receive, send or delete call takes

Message = dict[str, Any]


def put_objects(stack: LocalStack, objects: Mapping[str, bytes]) -> list[str]:
    """put_object each key's bytes into the stack's bucket; returns the s3:// URIs, in order."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return [str(S3Uri(bucket, key)) for key in objects]


def upload_images(stack: LocalStack, folder: Path) -> list[str]:
    """put_object every <Label>/<name> image of folder under the images prefix; returns the keys."""
    prefix = stack.resolver.parameter("ImagesPrefix")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p.name))
    objects = {prefix + path.relative_to(folder).as_posix(): path.read_bytes() for path in paths}
    put_objects(stack, objects)
    return list(objects)


def drain_queue(stack: LocalStack, *, timeouts: int = 0, batch_limit: int | None = None) -> list[Any]:
    """Invoke the trigger with batches until the queue is empty; returns the trigger's responses.

    The first ``timeouts`` invocations time out after the handler returned: the poller deletes nothing, and
    their messages come back (here at once, as when the visibility timeout expires) in later batches.
    ``batch_limit`` makes the poller hand over fewer messages than BatchSize, as Lambda's pollers often do.
    """
    batch_size = int(_event_source(stack)["BatchSize"])
    responses: list[Any] = []
    while messages := receive_batch(stack, min(batch_size, batch_limit or batch_size)):
        responses.append(invoke_trigger(stack, messages, timed_out=len(responses) < timeouts))
    return responses


def receive_batch(stack: LocalStack, batch_size: int) -> list[Message]:
    """What the poller gathers for one invocation: up to batch_size messages within the event size limit."""
    sqs = stack.client("sqs")
    messages: list[Message] = []
    size = len(json.dumps(_sqs_event([], "")))
    while len(messages) < batch_size:
        received = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=min(SQS_BATCH, batch_size - len(messages)),
            AttributeNames=["All"],
        ).get("Messages", [])
        for index, message in enumerate(received):
            size += len(json.dumps(_sqs_event([message], ""))) + 1
            if size > MAX_EVENT_BYTES:  # the poller returns what does not fit to the queue
                _release(stack, received[index:])
                return messages
            messages.append(message)
        if not received:
            break
    return messages


def invoke_trigger(stack: LocalStack, messages: list[Message], *, timed_out: bool = False) -> Any:
    """One invocation of the trigger with these messages, as the SQS event source makes it.

    ``timed_out``: the invocation ran but timed out, so the poller deletes none of its messages."""
    trigger, queue_arn = stack.resolver.refs["TriggerFunction"], _event_source(stack)["Queue"]
    answer = stack.client("lambda").invoke(
        FunctionName=trigger, Payload=json.dumps(_sqs_event(messages, queue_arn)).encode()
    )
    response = json.loads(answer["Payload"].read())
    if answer.get("FunctionError"):
        raise RuntimeError(f"the trigger failed: {response.get('errorMessage')}")
    if timed_out:
        _release(stack, messages)
        return response
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    _delete(stack, [m for m in messages if m["MessageId"] not in failed])
    return response


def requeue(stack: LocalStack, arrange: Callable[[list[str]], list[str]]) -> int:
    """Take every notification off the queue and send back the bodies ``arrange`` makes of them (late,
    duplicated, reordered); returns how many were sent."""
    sqs, bodies = stack.client("sqs"), []
    while received := sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=SQS_BATCH).get(
        "Messages"
    ):
        bodies += [m["Body"] for m in received]
        _delete(stack, received)
    arranged = arrange(bodies)
    for batch in _batches(arranged):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)
    return len(arranged)


def _event_source(stack: LocalStack) -> dict[str, Any]:
    return tpl.sqs_event_source(stack.template, stack.resolver)


def _sqs_event(messages: list[Message], queue_arn: str) -> dict[str, Any]:
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


def _batches(items: list[Any]) -> list[list[Any]]:
    return [items[start : start + SQS_BATCH] for start in range(0, len(items), SQS_BATCH)]


def _release(stack: LocalStack, messages: list[Message]) -> None:
    """Make received messages visible again at once (as when their visibility timeout expires)."""
    for batch in _batches(messages):
        stack.client("sqs").change_message_visibility_batch(
            QueueUrl=stack.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(batch)
            ],
        )


def _delete(stack: LocalStack, messages: list[Message]) -> None:
    """Delete received messages (what the poller does for those a function processed)."""
    for batch in _batches(messages):
        stack.client("sqs").delete_message_batch(
            QueueUrl=stack.queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
