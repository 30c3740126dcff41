"""`orchard soak`: a burst of uploads through the local stack, delivered the way S3 and SQS deliver them.

Every upload's notification reaches the queue; the soak then takes them all off and puts them back shuffled,
a fraction twice (at-least-once, unordered delivery), and the first trigger invocations time out after
starting their run (their messages come back when the visibility timeout expires). The real definition,
handlers and Spark job run it to the end; the figures count what was published, rejected, lost and
featurized more than once, from the published tables and the run records.
"""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from orchard.local import template as tpl
from orchard.local.flow import delete, history, invoke_trigger, receive_batch, release, sqs_event
from orchard.local.stack import LocalStack
from orchard.local.state import save
from orchard.query import run_query


@dataclass(frozen=True)
class Burst:
    images: int = 10_000
    labels: int = 20
    duplicate_fraction: float = 0.10
    corrupt_every: int = 100  # every Nth upload is a truncated JPEG, to be rejected
    timed_out_invocations: int = 1
    seed: int = 7


def burst_images(burst: Burst) -> dict[str, bytes]:
    """key -> bytes: tiny JPEGs of random colours in `labels` folders; every `corrupt_every`-th truncated."""
    rng = random.Random(burst.seed)
    images = {}
    for index in range(burst.images):
        colour = tuple(rng.randrange(256) for _ in range(3))
        buffer = io.BytesIO()
        Image.new("RGB", (12, 12), colour).save(buffer, format="JPEG", quality=90)
        data = buffer.getvalue()
        if burst.corrupt_every and index % burst.corrupt_every == burst.corrupt_every - 1:
            data = data[: len(data) // 2]
        images[f"images/Label{index % burst.labels:02d}/img_{index:05d}.jpg"] = data
    return images


def upload(stack: LocalStack, images: dict[str, bytes]) -> None:
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    for key, data in images.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)


def scramble(stack: LocalStack, duplicate_fraction: float, rng: random.Random) -> int:
    """Put every queued notification back in random order, a fraction of them twice; returns the count."""
    sqs, bodies = stack.client("sqs"), []
    while received := sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in received]
        delete(stack, received)
    bodies += rng.sample(bodies, int(len(bodies) * duplicate_fraction))
    rng.shuffle(bodies)
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=stack.queue_url,
            Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])],
        )
    return len(bodies)


def deliver(stack: LocalStack, timed_out_invocations: int) -> int:
    """Invoke the trigger until the queue is empty; returns the number of invocations.

    The first `timed_out_invocations` time out after the handler returned: nobody deletes their messages,
    which come back (visibility timeout) and travel again in later batches.
    """
    source = tpl.sqs_event_source(stack.template, stack.resolver)
    trigger, lam = stack.resolver.refs["TriggerFunction"], stack.client("lambda")
    invocations = 0
    while messages := receive_batch(stack, int(source["BatchSize"])):
        invocations += 1
        if invocations <= timed_out_invocations:
            lam.invoke(FunctionName=trigger, Payload=json.dumps(sqs_event(messages, source["Queue"])))
            release(stack, messages)
        else:
            invoke_trigger(stack, trigger, messages, source["Queue"])
    return invocations


def wait_for_all(stack: LocalStack, timeout: float = 3600) -> list[dict[str, Any]]:
    sfn, arn = stack.client("stepfunctions"), stack.outputs["StateMachineArn"]
    deadline = time.monotonic() + timeout
    while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"executions still running after {timeout} s")
        time.sleep(0.5)
    listed: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=arn)["executions"]
    return listed


def ended_in(stack: LocalStack, execution_arn: str) -> str:
    """The last state an execution entered (Published, Superseded, RunFailed...)."""
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in history(stack, execution_arn)
        if "stateEnteredEventDetails" in e
    ]
    return str(entered[-1]) if entered else "none"


def run_burst(stack: LocalStack, burst: Burst) -> dict[str, Any]:
    """Upload, deliver and run the burst to the end; returns the figures."""
    started = time.perf_counter()
    images = burst_images(burst)
    upload(stack, images)
    delivered = scramble(stack, burst.duplicate_fraction, random.Random(burst.seed))
    invocations = deliver(stack, burst.timed_out_invocations)
    executions = wait_for_all(stack)
    save(stack)
    endings = [ended_in(stack, e["executionArn"]) for e in executions]
    return {
        "uploads": len(images),
        "notifications_delivered": delivered,
        "trigger_invocations": invocations,
        "timed_out_invocations": burst.timed_out_invocations,
        "executions_started": len(executions),
        "job_runs": sum(ending != "Superseded" for ending in endings),
        "superseded": endings.count("Superseded"),
        "failed": sum(e["status"] != "SUCCEEDED" for e in executions),
        **outcome(stack, images),
        "seconds": round(time.perf_counter() - started, 1),
    }


def outcome(stack: LocalStack, images: dict[str, bytes]) -> dict[str, int]:
    """Where each uploaded image ended, from the published tables and the run records."""
    bucket, state = stack.outputs["BucketName"], stack.state_dir
    uploaded = {f"s3://{bucket}/{key}" for key in images}
    published = [row[0] for row in run_query(state, "SELECT path FROM pca").rows]
    rejected = [row[0] for row in run_query(state, "SELECT path FROM rejects").rows]
    features = run_query(state, "SELECT path FROM features").rows
    featurized = run_query(state, "SELECT coalesce(sum(featurized_this_run), 0) FROM runs").rows[0][0]
    accounted = set(published) | set(rejected)
    return {
        "published": len(published),
        "rejected": len(rejected),
        "lost": len(uploaded - accounted),
        "in_both_or_twice": len(published) + len(rejected) - len(accounted),
        "featurized": int(featurized),
        "featurized_more_than_once": int(featurized) - len({row[0] for row in features}),
    }


def holds(figures: dict[str, Any]) -> bool:
    """Nothing lost, nothing twice, every run ended well."""
    clean = figures["lost"] == figures["in_both_or_twice"] == figures["featurized_more_than_once"] == 0
    return clean and figures["failed"] == 0


def print_figures(figures: dict[str, Any]) -> None:
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
