"""`orchard aws-check --stack NAME`: a deployed stack checked end to end, then left as it was.

Uploads a few sample images (two labels of their own, ``AwsCheck<token>A``/``B``, and one truncated JPEG)
under the upload prefix, follows the execution(s) whose manifest names them state by state, queries the
published tables (the images in ``pca``, the corrupt one in ``rejects`` with its reason, the run in ``runs``,
succeeded, with its estimated cost), prints where to look for whatever failed, and always removes its images
again and follows the run the deletions start, so ``pca`` shows the user's snapshot once more. One code path
for AWS and the local stack (``--stack local``); the edges that differ are in ``check_edges``.
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchard.check_edges import Edge, QueryFailedError
from orchard.check_runs import PUBLISHED, REMOVED, Run, RunFinder, follow_to_end, last_to_end
from orchard.check_where import Places, deployed_places, function_log_group, job_run_id, where_lines
from orchard.samples import CORRUPT_NAME, fruit_image, truncated
from orchard_contract.layout import S3Uri

PER_LABEL = 3


@dataclass(frozen=True)
class Limits:
    start_seconds: float = 300  # the batching window (60 s by default) and the trigger
    run_seconds: float = 3600  # an EMR Serverless cold start takes minutes, then the job


@dataclass
class Step:
    name: str
    passed: bool
    seconds: float
    summary: str
    where: list[str] = field(default_factory=list)


def check_objects(prefix: str, labels: list[str]) -> dict[str, bytes]:
    """PER_LABEL sample JPEGs per label, and one truncated JPEG in the first label (the job rejects it)."""
    import random

    rng, objects = random.Random(labels[0]), {}
    for label in labels:
        for index in range(PER_LABEL):
            buffer = io.BytesIO()
            fruit_image(label, rng).save(buffer, format="JPEG", quality=90)
            objects[f"{prefix}{label}/{index}.jpg"] = buffer.getvalue()
    objects[f"{prefix}{labels[0]}/{CORRUPT_NAME}"] = truncated(fruit_image(labels[0], rng))
    return objects


class Check:
    def __init__(
        self, edge: Edge, limits: Limits, echo: Callable[[str], None] = print, token: str = ""
    ) -> None:
        self.edge, self.limits, self.echo = edge, limits, echo
        outputs = edge.deployment.outputs
        self.bucket, self.application = outputs["BucketName"], outputs["EmrApplicationId"]
        self.prefix = S3Uri.parse(outputs["UploadPrefix"]).key + "/"
        token = token or secrets.token_hex(3)
        self.labels = [f"AwsCheck{token}{suffix}" for suffix in "AB"]
        self.objects = check_objects(self.prefix, self.labels)
        self.uris = {f"s3://{self.bucket}/{key}" for key in self.objects}
        self.s3, sfn = edge.client("s3"), edge.client("stepfunctions")
        self.finder = RunFinder(sfn, self.s3, outputs["StateMachineArn"], edge.poll_seconds)
        self.places: Places = deployed_places(sfn, outputs["StateMachineArn"])
        self.steps: list[Step] = []
        self.runs: list[Run] = []
        self.cost: Any = None
        self.since: datetime | None = None  # when the check's first object landed, by S3's clock

    def run(self) -> int:
        self.echo(f"aws-check of stack {self.edge.deployment.name}: sample images under "
                  f"s3://{self.bucket}/{self.prefix}{{{','.join(self.labels)}}}/")  # fmt: skip
        try:
            for name, step in (
                ("upload", self.upload),
                ("run", self.follow_upload),
                ("published", self.published),
            ):
                if not self.timed(name, step):
                    break
        finally:
            self.timed("cleanup", self.cleanup)
        return self.summary()

    def timed(self, name: str, step: Callable[[], Step]) -> bool:
        start = time.monotonic()
        try:
            result = step()
        except Exception as e:  # a step that could not finish fails; the next ones (and cleanup) still run
            result = Step(name, False, 0.0, f"{type(e).__name__}: {e}")
        result.seconds = time.monotonic() - start
        self.steps.append(result)
        self.echo(
            f"[{'PASS' if result.passed else 'FAIL'}] {name:<10} {result.seconds:7.1f} s  {result.summary}"
        )
        for line in result.where:
            self.echo(f"         {line}")
        return result.passed

    def upload(self) -> Step:
        for key, body in self.objects.items():
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        # S3's clock, like Step Functions' start dates (the local one's too): no skew with this machine.
        self.since = self.s3.head_object(Bucket=self.bucket, Key=next(iter(self.objects)))["LastModified"]
        images = len(self.objects) - 1
        return Step("upload", True, 0, f"{images} images in {len(self.labels)} labels and 1 corrupt file")

    def follow_upload(self) -> Step:
        self.runs = self.follow(self.uris)
        failed = [run for run in self.runs if run.status != "SUCCEEDED" or run.ended_in != PUBLISHED]
        names = ", ".join(f"{run.name} {run.status} (ended in {run.ended_in})" for run in self.runs)
        return Step("run", not failed, 0, names, [line for run in failed for line in self.where(run)])

    def follow(self, lines: set[str]) -> list[Run]:
        self.edge.deliver()
        assert self.since is not None, "nothing uploaded"
        since = self.since - timedelta(seconds=1)
        executions = self.finder.covering(lines, since, self.limits.start_seconds)
        return [
            follow_to_end(self.finder, execution, self.limits.run_seconds, self.echo)
            for execution in executions
        ]

    def where(self, run: Run) -> list[str]:
        job_run = job_run_id(self.edge.client("emr-serverless"), self.application, run.name)
        job_log = self.edge.job_log(self.places.log_uri, self.application, job_run, run.name)
        log_group = self.edge.deployment.resources.get("StateMachineLogGroup", "(none)")
        return where_lines(run, self.places, log_group, (self.application, job_log, job_run))

    def published(self) -> Step:
        labels = ", ".join(f"'{label}'" for label in self.labels)
        counts = self.edge.query(
            f"SELECT label, count(*) AS images FROM pca WHERE label IN ({labels}) GROUP BY label"
        )
        found = {row["label"]: int(row["images"]) for row in counts}
        rejects = self.edge.query(f"SELECT path, reason FROM rejects WHERE label IN ({labels})")
        run = last_to_end(self.runs)
        records = self.edge.query(
            "SELECT status, CAST(published AS varchar) AS published, estimated_cost_usd FROM runs "
            f"WHERE run_id = '{run.name}'"
        )
        self.cost = records[0]["estimated_cost_usd"] if records else None
        problems = [f"pca has {found.get(label, 0)} of {PER_LABEL} images of {label}" for label in self.labels
                    if found.get(label, 0) != PER_LABEL]  # fmt: skip
        corrupt = [row for row in rejects if str(row["path"]).endswith("/" + CORRUPT_NAME) and row["reason"]]
        if len(corrupt) != 1 or len(rejects) != 1:
            problems.append(
                f"rejects has {len(rejects)} row(s) of the check's labels, expected {CORRUPT_NAME} only"
            )
        if not records or (records[0]["status"], str(records[0]["published"]).lower()) != (
            "succeeded",
            "true",
        ):
            problems.append(
                f"runs has {records or 'no record'} for {run.name}, expected succeeded and published"
            )
        summary = "; ".join(problems) or (
            f"pca: {PER_LABEL} images in each of {len(self.labels)} labels; rejects: {CORRUPT_NAME} "
            f"({corrupt[0]['reason']}); runs: {run.name} succeeded, estimated cost {cost_text(self.cost)}"
        )
        tasks = [self.places.functions[s.name] for s in run.states if s.name in self.places.functions]
        where = [f"the publishing state's log group: {function_log_group(tasks[-1])}"] if tasks else []
        return Step("published", not problems, 0, summary, [] if not problems else [*where, *self.where(run)])

    def cleanup(self) -> Step:
        keys = list(self.objects)
        self.s3.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        left = [
            key for key in keys if self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key).get("KeyCount")
        ]
        if left:
            return Step(
                "cleanup", False, 0, f"{len(left)} of the check's objects not deleted", self.cleanup_help()
            )
        if self.since is None:
            return Step("cleanup", True, 0, "nothing had been uploaded")
        runs = self.follow({REMOVED + uri for uri in self.uris})
        shown = self.published_images(self.labels) or 0
        deleted = f"{len(keys)} objects deleted, then " + ", ".join(f"{r.name} {r.status}" for r in runs)
        if not shown:  # on a stack holding no other image, an empty snapshot (k = 0) is published
            return Step("cleanup", True, 0, f"{deleted}; pca shows none of the check's images")
        where = [line for run in runs for line in self.where(run)]
        return Step("cleanup", False, 0, f"{deleted}; pca still shows {shown} of the check's images", where)

    def cleanup_help(self) -> list[str]:
        folders = " ".join(f"s3://{self.bucket}/{self.prefix}{label}/" for label in self.labels)
        return [f"remove the check's images yourself: aws s3 rm --recursive for each of {folders}"]

    def published_images(self, labels: list[str] | None = None) -> int | None:
        """Images in pca (of these labels); None when no run has published yet."""
        where = " WHERE label IN ({})".format(", ".join(f"'{label}'" for label in labels)) if labels else ""
        try:
            return int(self.edge.query(f"SELECT count(*) AS images FROM pca{where}")[0]["images"])
        except QueryFailedError:
            return None

    def summary(self) -> int:
        failed = [step for step in self.steps if not step.passed]
        if not failed:
            self.echo(f"aws-check passed ({len(self.steps)} steps); the check's run cost "
                      f"{cost_text(self.cost)} (runs.estimated_cost_usd)")  # fmt: skip
            return 0
        state = next((run.failed_state for run in self.runs if run.failed_state), None)
        at = f" (state {state.name})" if state and failed[0].name == "run" else ""
        self.echo(
            f"aws-check FAILED at step '{failed[0].name}'{at}; the check's run cost {cost_text(self.cost)}"
        )
        return 1


def cost_text(cost: Any) -> str:
    return "n/a (no usage recorded)" if cost in (None, "") else f"${float(cost):.4f}"
