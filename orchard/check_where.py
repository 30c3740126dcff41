"""Where to look when a run failed: the execution, the failed state's log group, the job run and its logs.

Read from the deployed state machine's definition (DescribeStateMachine), so the answer names what is
deployed: each Lambda task's function (its logs go to ``/aws/lambda/<function>``, the log group Lambda writes
to and the template creates), the EMR task (the one whose Parameters hold a ``JobDriver``) and the job's
``LogUri``. EMR Serverless writes a job's logs under
``<LogUri>applications/<application id>/jobs/<job run id>/`` (SPARK_DRIVER/stdout.gz, stderr.gz):
https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/logging.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchard.check_runs import Run


@dataclass(frozen=True)
class Places:
    functions: dict[str, str] = field(default_factory=dict)  # state -> Lambda function name
    job_state: str | None = None
    log_uri: str | None = None


def places(definition: dict[str, Any]) -> Places:
    """Each Task state's function, and the job's state and LogUri, from a definition."""
    functions: dict[str, str] = {}
    job_state, log_uri = None, None
    for name, state in definition.get("States", {}).items():
        parameters = state.get("Parameters") or {}
        if "JobDriver" in parameters:
            job_state = name
            monitoring = parameters.get("ConfigurationOverrides", {}).get("MonitoringConfiguration", {})
            log_uri = monitoring.get("S3MonitoringConfiguration", {}).get("LogUri")
            continue
        target = parameters.get("FunctionName") or state.get("Resource", "")
        if isinstance(target, str) and ":function:" in target:
            functions[name] = target.split(":function:", 1)[1].split(":", 1)[0]
        elif isinstance(target, str) and target and ":" not in target:
            functions[name] = target  # a plain function name
    return Places(functions, job_state, log_uri)


def deployed_places(sfn: Any, state_machine_arn: str) -> Places:
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"])
    return places(definition)


def function_log_group(function: str) -> str:
    return f"/aws/lambda/{function}"


def aws_job_log(log_uri: str | None, application_id: str, job_run_id: str | None) -> str:
    if not log_uri:
        return "(the job writes no S3 logs: no LogUri in the definition)"
    return f"{log_uri.rstrip('/')}/applications/{application_id}/jobs/{job_run_id or '<job run id>'}/"


def job_run_id(emr: Any, application_id: str, run_name: str) -> str | None:
    """The EMR Serverless job run the run started (named after the run id), if any."""
    from botocore.exceptions import ClientError

    try:
        for page in emr.get_paginator("list_job_runs").paginate(applicationId=application_id):
            for job_run in page["jobRuns"]:
                if job_run.get("name") == run_name:
                    return str(job_run["id"])
    except ClientError:
        return None
    return None


def where_lines(
    run: Run, spots: Places, state_machine_log_group: str, job: tuple[str, str, str | None]
) -> list[str]:
    """What to open for a failed run; ``job``: the application id, the job's log location, its job run id."""
    application_id, job_log, job_run = job
    failed = run.failed_state
    lines = [f"execution:      {run.arn}"]
    if failed is not None:
        lines.append(f"failed state:   {failed.name} ({failed.outcome})")
        if failed.name in spots.functions:
            lines.append(f"its log group:  {function_log_group(spots.functions[failed.name])}")
    if run.error or run.cause:
        lines.append(f"error:          {run.error}: {readable_cause(run.cause)[:400]}")
    lines.append(f"state machine:  log group {state_machine_log_group}")
    if job_run or (failed is not None and failed.name == spots.job_state):
        lines.append(
            f"job run:        {job_run or '(none started)'} on EMR Serverless application {application_id}"
        )
        lines.append(f"job log:        {job_log}")
    return lines


def readable_cause(cause: str | None) -> str:
    """The message inside a cause: the Fail state passes the caught error on whole (``{"Error", "Cause"}``),
    and a Lambda's Cause is its own JSON (``{"errorMessage", ...}``)."""
    text = cause or ""
    for _ in range(3):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if not isinstance(parsed, dict) or not isinstance(
            message := parsed.get("Cause", parsed.get("errorMessage")), str
        ):
            return text
        text = message
    return text
