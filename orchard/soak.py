"""`orchard soak`: a burst of uploads through the local stack, delivered the way S3 and SQS deliver them.

Every upload's notification reaches the queue; the soak then takes them all off and puts them back shuffled,
a fraction twice (at-least-once, unordered delivery), and the first trigger invocations time out after
starting their run (their messages come back when the visibility timeout expires). The real definition,
handlers and Spark job run it to the end; the figures count what was published, rejected, lost and
featurized more than once, from the published tables and the run records.
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from orchard.local.executions import ended_in, wait_for_all
from orchard.local.flow import drain_queue, put_objects, requeue
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
    batch_limit: int | None = None  # at most this many messages per trigger invocation (None: BatchSize)


def burst_images(burst: Burst, prefix: str) -> dict[str, bytes]:
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
        images[f"{prefix}Label{index % burst.labels:02d}/img_{index:05d}.jpg"] = data
    return images


def scrambled(bodies: list[str], duplicate_fraction: float, rng: random.Random) -> list[str]:
    """The notifications in random order, a fraction of them twice."""
    delivered = bodies + rng.sample(bodies, int(len(bodies) * duplicate_fraction))
    rng.shuffle(delivered)
    return delivered


def run_burst(stack: LocalStack, burst: Burst) -> dict[str, Any]:
    """Upload, deliver and run the burst to the end; returns the figures."""
    started = time.perf_counter()
    uploaded = put_objects(stack, burst_images(burst, stack.resolver.parameter("ImagesPrefix")))
    rng = random.Random(burst.seed)
    delivered = requeue(stack, lambda bodies: scrambled(bodies, burst.duplicate_fraction, rng))
    responses = drain_queue(stack, timeouts=burst.timed_out_invocations, batch_limit=burst.batch_limit)
    executions = wait_for_all(stack)
    save(stack)
    endings = [ended_in(stack, e["executionArn"]) for e in executions]
    return {
        "uploads": len(uploaded),
        "notifications_delivered": delivered,
        "trigger_invocations": len(responses),
        "timed_out_invocations": burst.timed_out_invocations,
        "executions_started": len(executions),
        "job_runs": sum(ending != "Superseded" for ending in endings),
        "superseded": endings.count("Superseded"),
        "failed": sum(e["status"] != "SUCCEEDED" for e in executions),
        **outcome(stack, set(uploaded)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def outcome(stack: LocalStack, uploaded: set[str]) -> dict[str, int]:
    """Where each uploaded image (s3:// URI) ended, from the published tables and the run records."""
    state = stack.state_dir
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
