"""The IAM check on a local flow with the real Spark job: the calls it records, and each job run as the EMRFS
model takes it (the keys the run read and wrote, from the bucket and the job's mirror of it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from emrfs_model import JobRun, job_calls
from iam_calls import Call
from iam_record import recording
from iam_roles import JOB, STATE_MACHINE, Deployment, deployment, transform_template

from orchard.local.invoke import function_arn
from orchard.local.run import Execution
from orchard.local.stack import JOB_RUNNER, LOCAL_PARAMETERS, LocalStack
from orchard.local.template import load_template


@dataclass
class FlowCalls:
    stack: LocalStack
    deployment: Deployment
    recorded: list[Call]
    runs: list[JobRun] = field(default_factory=list)

    def job_ran(self, execution: Execution) -> None:
        """Note the job run of an execution that just ended (call it after each flow)."""
        r = self.stack.resolver
        images, output = r.parameter("ImagesPrefix").rstrip("/"), r.parameter("ResultsPrefix")
        bucket = self.stack.outputs["BucketName"]
        described = self.stack.client("stepfunctions").describe_execution(executionArn=execution.arn)
        manifest = json.loads(described["input"])["manifest"].removeprefix(f"s3://{bucket}/")
        application = r.attributes["EmrApplication.ApplicationId"]
        [job_run] = [
            run["id"]
            for run in self.stack.client("emr-serverless").list_job_runs(applicationId=application)["jobRuns"]
            if run["name"] == execution.run_id
        ]
        weights = r.parameter("Weights")
        self.runs.append(
            JobRun(
                bucket,
                images,
                output,
                execution.run_id,
                manifest,
                image_keys=self.keys(images),
                before=self.runs[-1].after if self.runs else frozenset(),
                after=self.keys(output),
                application_id=application,
                job_run_id=job_run,
                weights=weights if weights.startswith("s3://") else None,
            )
        )

    def keys(self, folder: str) -> frozenset[str]:
        """The keys under folder as S3 would hold them: the job's mirror (Spark's local .crc files aside)."""
        files = self.stack.mirror.files
        paths = files.folder(folder).rglob("*")
        relative = [p.relative_to(files.root).as_posix() for p in paths if p.is_file()]
        return frozenset(files.key(name) for name in relative if not name.rsplit("/", 1)[-1].startswith("."))

    def calls(self) -> list[Call]:
        return [*self.recorded, *(call for run in self.runs for call in job_calls(run))]


@contextmanager
def flow_calls(stack: LocalStack) -> Iterator[FlowCalls]:
    """Records the flows run inside; call job_ran(execution) after each."""
    transformed = transform_template(load_template(), {"ImageUri": LOCAL_PARAMETERS["ImageUri"]})
    deployed = deployment(transformed, stack.resolver)
    functions = [caller for caller in deployed.callers if caller not in (STATE_MACHINE, JOB)]
    with recording(functions, {function_arn(JOB_RUNNER)}) as recorded:
        yield FlowCalls(stack, deployed, recorded)
