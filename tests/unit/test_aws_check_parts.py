"""The parts of `orchard aws-check` the local runs do not reach: Athena's answers, and where it points a user
(the deployed definition's functions and job, the log groups the stack creates)."""

from __future__ import annotations

import json

from deploy_support import moto_account
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from orchard.check_edges import athena_rows
from orchard.check_runs import PUBLISHED, RECORD_FAILURE, SUPERSEDED
from orchard.check_where import aws_job_log, deployed_places, function_log_group
from orchard.local import REPO
from orchard.local import template as tpl
from orchard.local.check_edge import local_resources
from orchard.local.stack import LocalStack

DEFINITION = json.loads((REPO / "statemachine" / "orchard.asl.json").read_text())


def test_athena_rows_drop_the_header_and_keep_nulls(monkeypatch):
    columns = ["status", "estimated_cost_usd"]
    rows: list[list[str | None]] = [[*columns], ["succeeded", "0.0123"], ["failed", None]]
    with moto_account(monkeypatch) as session:
        athena = session.client("athena")
        athena.create_work_group(Name="orchard-wg")
        athena_backends[DEFAULT_ACCOUNT_ID][session.region_name].query_results_queue.append(
            QueryResults(
                rows=[{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows],
                column_info=[{"Name": name, "Type": "varchar"} for name in columns],
            )
        )
        found = athena_rows(
            athena, "SELECT status, estimated_cost_usd FROM runs", workgroup="orchard-wg", database="orchard",
            timeout=30, poll_seconds=0.01,
        )  # fmt: skip
    assert found == [
        {"status": "succeeded", "estimated_cost_usd": "0.0123"},
        {"status": "failed", "estimated_cost_usd": None},
    ]


def test_each_task_state_points_at_a_log_group_the_stack_creates(tmp_path):
    with LocalStack(tmp_path) as stack:
        stack.deploy()
        resources = local_resources(stack)
        spots = deployed_places(stack.client("stepfunctions"), stack.outputs["StateMachineArn"])
        bucket = stack.outputs["BucketName"]
    log_groups = {
        resources[logical_id]
        for logical_id, resource in tpl.load_template()["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    lambda_tasks = {
        n for n, s in DEFINITION["States"].items() if s.get("Resource") == "arn:aws:states:::lambda:invoke"
    }
    assert set(spots.functions) == lambda_tasks
    assert {function_log_group(function) for function in spots.functions.values()} <= log_groups
    assert resources["StateMachineLogGroup"] in log_groups
    [emr_task] = [
        n for n, s in DEFINITION["States"].items() if "emr-serverless:startJobRun" in s.get("Resource", "")
    ]
    assert spots.job_state == emr_task
    assert aws_job_log(spots.log_uri, "app1", "run1") == f"s3://{bucket}/logs/applications/app1/jobs/run1/"


def test_the_states_the_check_reads_are_in_the_definition():
    states = DEFINITION["States"]
    assert states[PUBLISHED]["Type"] == states[SUPERSEDED]["Type"] == "Succeed"
    assert states[RECORD_FAILURE]["Type"] == "Task"
