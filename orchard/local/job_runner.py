"""The EMR Serverless task, bound locally: the one rebinding, and the runner it points at.

moto's interpreter cannot run ``arn:aws:states:::emr-serverless:startJobRun.sync``. At local deploy time,
``rebind_emr_tasks`` points that Task's Resource at a local function's ARN (a Lambda function ARN, so the
Task's Parameters arrive unchanged as the event, and its result is not wrapped in ``Payload``: the
ResultSelector reads ``$.ApplicationId`` / ``$.JobRunId`` as on AWS). Nothing else in the definition changes.

``JobRunner`` receives exactly the StartJobRun Parameters: it records a real (moto) job run, so the later
``aws-sdk:emrserverless:getJobRun`` answers, then runs the entry point with local spark-submit and the
Parameters' EntryPointArguments, s3:// URIs mapped into the bucket mirror, and pushes the outputs back.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from orchard.local.invoke import LocalFunctionError
from orchard.local.mirror import Mirror
from orchard.local.spark import FEATURIZE, environment, submit_command

EMR_SYNC = "arn:aws:states:::emr-serverless:startJobRun.sync"
# Where the image's entry point lives in this checkout.
ENTRY_POINTS = {"local:///opt/orchard/featurize.py": FEATURIZE}


def rebind_emr_tasks(definition: Mapping[str, Any], runner_arn: str) -> dict[str, Any]:
    """A copy of the definition whose EMR Serverless .sync Tasks invoke ``runner_arn`` instead."""
    rebound: dict[str, Any] = copy.deepcopy(dict(definition))
    for state in rebound["States"].values():
        if state.get("Resource") == EMR_SYNC:
            state["Resource"] = runner_arn
    return rebound


def start_job_run_request(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Step Functions' PascalCase Parameters as the emr-serverless StartJobRun request; raises if invalid."""
    service = botocore.session.get_session().get_service_model("emr-serverless")
    shape = service.operation_model("StartJobRun").input_shape
    request = _member_names(parameters, shape)
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        raise LocalFunctionError("EMRServerless.ValidationException", report.generate_report())
    result: dict[str, Any] = request
    return result


def _member_names(value: Any, shape: Any) -> Any:
    """The value with its keys spelt as the shape's members (Step Functions' Parameters are PascalCase)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        converted = {}
        for key, item in value.items():
            name = members.get(key.lower(), key)
            converted[name] = _member_names(item, shape.members[name]) if name in shape.members else item
        return converted
    if shape.type_name == "list" and isinstance(value, list):
        return [_member_names(item, shape.member) for item in value]
    return value


@dataclass
class JobRunner:
    mirror: Mirror
    emr: Any  # boto3 emr-serverless client
    images_prefix: str
    results_prefix: str
    log_dir: Path
    cores: int = 2
    echo: bool = True  # stream Spark's progress to the terminal

    def __call__(self, parameters: dict[str, Any], context: Any) -> dict[str, Any]:
        request = start_job_run_request(parameters)
        job_run = self.emr.start_job_run(**request)
        driver = request["jobDriver"]["sparkSubmit"]
        run_id = request["name"]
        self.mirror.pull(self.images_prefix)
        self.mirror.drop_retired(self.results_prefix)
        arguments = self.local_arguments(driver["entryPointArguments"])
        script = ENTRY_POINTS.get(driver["entryPoint"], Path(driver["entryPoint"].removeprefix("file://")))
        code = self.spark_submit(script, arguments, run_id, request.get("executionTimeoutMinutes", 180))
        self.mirror.push(self.results_prefix, run_id)
        if code != 0:
            # AWS reports a failed .sync job as States.TaskFailed; a function may not raise States.* names.
            raise LocalFunctionError(
                "EMRServerless.JobRunFailed",
                f"job run {job_run['jobRunId']} ({run_id}) failed with exit code {code}; "
                f"log: {self.log_dir / f'{run_id}.log'}",
            )
        return {
            "ApplicationId": job_run["applicationId"],
            "JobRunId": job_run["jobRunId"],
            "Arn": job_run["arn"],
        }

    def local_arguments(self, arguments: list[str]) -> list[str]:
        """s3:// URIs into the mirror; the manifest is fetched with its entries mapped the same way."""
        mapped = []
        for flag, value in zip(["", *arguments], arguments, strict=False):
            mapped.append(
                self.mirror.pull_manifest(value) if flag == "--manifest" else self.mirror.to_local(value)
            )
        return mapped

    def spark_submit(self, script: Path, arguments: list[str], run_id: str, timeout_minutes: int) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{run_id}.log"
        command = submit_command(script, arguments, self.cores)
        with log_path.open("w") as log:
            log.write(" ".join(command) + "\n")
            log.flush()
            # stdout (the driver's log and result line) goes to the log; stderr carries Spark's progress bar.
            stderr = sys.stderr if self.echo else log
            try:
                return subprocess.call(
                    command, env=environment(), stdout=log, stderr=stderr, timeout=timeout_minutes * 60
                )
            except subprocess.TimeoutExpired:
                return 124
