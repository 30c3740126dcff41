"""Run records: what the catalog reads of an EMR Serverless job run (usage), and what a record holds."""

from __future__ import annotations

import botocore.session
import pytest
import run_records
from aws_support import sample_run

from orchard_contract.tables import RUNS_COLUMNS

PRICES = run_records.Prices(vcpu_hour=0.052624, memory_gb_hour=0.0057785, storage_gb_hour=0.000111)


GET_JOB_RUN = botocore.session.get_session().get_service_model("emr-serverless").operation_model("GetJobRun")
JOB_RUN_SHAPE = GET_JOB_RUN.output_shape.members["jobRun"]
# Every resource-utilization figure a JobRun can carry (total and billed), by the model's member names.
UTILIZATIONS = [
    name
    for name, shape in JOB_RUN_SHAPE.members.items()
    if shape.type_name == "structure" and shape.members and all(m.endswith("Hour") for m in shape.members)
]


def boto3_casing(name: str) -> str:
    return name


def step_functions_casing(name: str) -> str:
    """An aws-sdk task answers with the model's member names, first letter upper-cased (sdk_integration)."""
    return name[:1].upper() + name[1:]


@pytest.mark.parametrize("casing", [boto3_casing, step_functions_casing])
@pytest.mark.parametrize("utilization", UTILIZATIONS)
def test_usage_is_read_from_each_utilization_a_job_run_carries(utilization, casing):
    figures = {member: float(i + 1) for i, member in enumerate(JOB_RUN_SHAPE.members[utilization].members)}
    job_run = {
        casing("jobRunId"): "00fjobrun",
        casing("totalExecutionDurationSeconds"): 412,
        casing(utilization): {casing(member): value for member, value in figures.items()},
    }
    assert set(job_run) <= {casing(member) for member in JOB_RUN_SHAPE.members}

    usage = run_records.usage_from_job_run(job_run)

    read = {name.replace("_", "").removesuffix("s"): value for name, value in usage.items()}
    assert read == read | {member.lower(): value for member, value in figures.items()}
    assert (usage["job_run_id"], usage["job_seconds"]) == ("00fjobrun", 412)


def test_utilizations_are_found_in_the_model():
    assert {"totalResourceUtilization", "billedResourceUtilization"} <= set(UTILIZATIONS)


def test_an_answer_of_the_wrong_shape_gives_no_usage_and_fails_no_run():
    assert (
        run_records.usage_from_job_run(run_records.job_run_of({"Error": "NoJobRunId", "Cause": "..."})) == {}
    )
    odd = run_records.usage_from_job_run({"JobRunId": 7, "TotalResourceUtilization": {"VCPUHour": "2"}})
    assert set(odd.values()) == {None}


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_record_sets_only_columns_of_the_runs_table(status):
    """write_record keeps the table's columns only: a field the builder names otherwise would be lost."""
    usage = {"job_run_id": "00fjobrun", "job_seconds": 412, "vcpu_hours": 2.4, "memory_gb_hours": 9.6}
    report = sample_run("r1").report if status == "succeeded" else None
    record = run_records.run_record(
        "r1", status, started_at=None, manifest=None, usage=usage, prices=PRICES, report=report,
        error=("Failed", "cause") if status == "failed" else None,
    )  # fmt: skip

    assert set(record) <= {name for name, _ in RUNS_COLUMNS}
    assert record["estimated_cost_usd"] == pytest.approx(2.4 * 0.052624 + 9.6 * 0.0057785, abs=1e-6)
