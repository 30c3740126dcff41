"""Calls AWS makes with Orchard's roles that no local run shows, derived from the deployed template.

- The EMR Serverless task (``startJobRun.sync``): StartJobRun with the Task's Parameters (iam_calls maps it to
  emr-serverless:StartJobRun, TagResource when Tags are passed, and iam:PassRole of ExecutionRoleArn to
  emr-serverless.amazonaws.com); the .sync pattern then polls (GetJobRun), cancels a run whose execution
  stops (CancelJobRun) and manages an EventBridge rule. The policy Step Functions documents for this task:
  https://docs.aws.amazon.com/step-functions/latest/dg/emr-serverless-iam.html
- The state machine's Logging configuration: log delivery to CloudWatch Logs, authorized on "*"
  (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy).
- Each function's own logs: Lambda writes them with the function's role to /aws/lambda/<name>
  (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).
- An SQS event source mapping polls with the function's role: ReceiveMessage, DeleteMessage and
  GetQueueAttributes (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
"""

from __future__ import annotations

from typing import Any

from iam_calls import LOG_DELIVERY, Call
from iam_roles import STATE_MACHINE, Deployment, emr_tasks

# The rule the .sync integration creates in the account (name from the Step Functions page above).
SYNC_RULE = "StepFunctionsGetEventsForEMRServerlessJobRule"
LOG_STREAM = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"
SQS_POLLING = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")


def derived_calls(deployment: Deployment, job_run_id: str = "00fjobrun00000000") -> list[Call]:
    return [
        *emr_task_calls(deployment, job_run_id),
        *state_machine_log_delivery(deployment),
        *function_logs(deployment),
        *event_source_polling(deployment),
    ]


def emr_task_calls(deployment: Deployment, job_run_id: str) -> list[Call]:
    calls = []
    for task in emr_tasks(deployment.definition()):
        parameters = task["Parameters"]
        start = {
            "applicationId": parameters["ApplicationId"],
            "executionRoleArn": parameters["ExecutionRoleArn"],
            "tags": {key.removesuffix(".$"): "<run id>" for key in parameters.get("Tags", {})},
        }
        run = {"applicationId": parameters["ApplicationId"], "jobRunId": job_run_id}
        origin = "startJobRun.sync task"
        calls += [
            Call(STATE_MACHINE, "emr-serverless", "StartJobRun", start, origin=origin),
            Call(STATE_MACHINE, "emr-serverless", "GetJobRun", run, origin=origin),
            Call(STATE_MACHINE, "emr-serverless", "CancelJobRun", run, origin=origin),
            *(
                Call(STATE_MACHINE, "events", op, {"Name": SYNC_RULE}, origin=origin)
                for op in ("PutRule", "PutTargets", "DescribeRule")
            ),
        ]
    return calls


def state_machine_log_delivery(deployment: Deployment) -> list[Call]:
    [machine] = deployment.resources("AWS::StepFunctions::StateMachine").values()
    if not machine.get("LoggingConfiguration", {}).get("Destinations"):
        return []
    origin = "state machine logging to CloudWatch Logs"
    return [Call(STATE_MACHINE, "logs", op, origin=origin) for op in LOG_DELIVERY]


def function_logs(deployment: Deployment) -> list[Call]:
    calls = []
    for function in deployment.resources("AWS::Lambda::Function").values():
        name = deployment.resolver.resolve(function["FunctionName"])
        group = function.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{name}")
        stream: dict[str, Any] = {"logGroupName": group, "logStreamName": LOG_STREAM}
        origin = f"Lambda writing {name}'s logs"
        calls += [Call(name, "logs", op, stream, origin=origin) for op in ("CreateLogStream", "PutLogEvents")]
    return calls


def event_source_polling(deployment: Deployment) -> list[Call]:
    calls = []
    for mapping in deployment.resources("AWS::Lambda::EventSourceMapping").values():
        source = deployment.resolver.resolve(mapping["EventSourceArn"])
        function = deployment.resolver.resolve(mapping["FunctionName"])
        if not source.startswith("arn:aws:sqs:"):
            raise NotImplementedError(f"event source {source}: only SQS is derived")
        _, _, _, region, account, queue = source.split(":")
        url = f"https://sqs.{region}.amazonaws.com/{account}/{queue}"
        origin = f"Lambda polling {queue} for {function}"
        calls += [Call(function, "sqs", op, {"QueueUrl": url}, origin=origin) for op in SQS_POLLING]
    return calls
