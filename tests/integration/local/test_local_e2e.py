"""The whole local flow with the real Spark job: S3 -> SQS -> trigger -> state machine (moto) -> local
spark-submit -> validate -> catalog -> `orchard query`; then an incremental upload. One flow, many asserts."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from iam_check import denied, evaluate, lines
from iam_flow import FlowCalls, flow_calls
from local_support import HAPPY_PATH, run_location

from orchard.local import REPO
from orchard.local.run import Execution, local_stack, upload_and_run
from orchard.local.stack import LocalStack
from orchard.local.state import bucket_dir
from orchard.query import run_query
from orchard.samples import CORRUPT_NAME, fruit_image, write_samples
from orchard_contract.layout import report_path

pytestmark = pytest.mark.slow


@dataclass
class Flow:
    stack: LocalStack
    state: Path
    first: Execution
    second: Execution
    aws_calls: FlowCalls  # every AWS call of the flow, by role (tests/iam)

    def report(self, execution: Execution) -> dict:
        report = report_path(self.stack.resolver.parameter("ResultsPrefix"), execution.run_id)
        return json.loads((bucket_dir(self.state, self.stack.outputs["BucketName"]) / report).read_text())


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    root = tmp_path_factory.mktemp("local-e2e")
    write_samples(root / "first", per_label=3, n_labels=3)  # 9 images + 1 corrupt
    rng = random.Random(11)
    (root / "second" / "Plum").mkdir(parents=True)
    for index in range(2):
        fruit_image("Plum", rng).save(root / "second" / "Plum" / f"new_{index}.jpg")
    state = root / "state"
    with local_stack(state, {"ImageSize": "96"}, fresh=True, echo=False) as stack, flow_calls(stack) as calls:
        _, [first] = upload_and_run(stack, root / "first")
        calls.job_ran(first)
        _, [second] = upload_and_run(stack, root / "second")
        calls.job_ran(second)
        yield Flow(stack, state, first, second, calls)


def test_both_executions_succeed_through_every_state_in_order(flow):
    for execution in (flow.first, flow.second):
        assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
        assert [s.name for s in execution.states] == HAPPY_PATH
        assert all(s.outcome == "ok" for s in execution.states)


def test_glue_tables_and_partitions_exist(flow):
    glue = flow.stack.client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="orchard")["TableList"]}
    assert set(tables) == {"pca", "rejects", "pca_history", "rejects_history", "features", "runs"}
    assert tables["pca"]["StorageDescriptor"]["Location"] == run_location(
        flow.stack, "pca", flow.second.run_id
    )
    for name in ("pca_history", "rejects_history", "features"):
        partitions = glue.get_partitions(DatabaseName="orchard", TableName=name)["Partitions"]
        assert sorted(p["Values"][0] for p in partitions) == sorted([flow.first.run_id, flow.second.run_id])


def test_published_rows_per_label_and_vector_length(flow):
    k = flow.report(flow.second)["k"]
    sql = "SELECT label, count(*), min(cardinality(pca)), max(cardinality(pca)) FROM pca GROUP BY label"
    rows = run_query(flow.state, sql + " ORDER BY label").rows
    assert rows == [("Apple Red", 3, k, k), ("Banana", 3, k, k), ("Lemon", 3, k, k), ("Plum", 2, k, k)]
    paths = [r[0] for r in run_query(flow.state, "SELECT path FROM pca").rows]
    assert all(p.startswith(f"s3://{flow.stack.outputs['BucketName']}/images/") for p in paths)


def test_the_corrupt_file_is_rejected_with_its_reason(flow):
    [(path, reason)] = run_query(flow.state, "SELECT path, reason FROM rejects").rows
    assert path.endswith(f"/images/Apple Red/{CORRUPT_NAME}")
    assert reason.startswith("corrupt or truncated image")


def test_the_second_upload_featurizes_only_the_new_images(flow):
    first, second = flow.report(flow.first)["counts"], flow.report(flow.second)["counts"]
    assert (first["listed"], first["featurized_this_run"], first["rejected"]) == (10, 9, 1)
    assert (second["listed"], second["featurized_this_run"], second["reused_from_cache"]) == (12, 2, 9)
    runs = run_query(flow.state, "SELECT run_id, status, published FROM runs ORDER BY started_at").rows
    assert runs == [(flow.first.run_id, "succeeded", True), (flow.second.run_id, "succeeded", True)]


def test_every_call_of_the_flow_and_the_job_is_allowed_for_its_role(flow, iam_evaluator):
    """Lambda's and the state machine's calls as recorded; the job's S3 requests from the EMRFS model applied
    to the keys these runs read and wrote (docs/iam-check.md)."""
    decisions = evaluate(iam_evaluator, flow.aws_calls.deployment, flow.aws_calls.calls())
    assert {d.request.role for d in decisions} >= {"JobRole", "StateMachineRole", "CatalogFunctionRole"}
    assert not denied(decisions), lines(denied(decisions))


def documented_queries() -> list[str]:
    """The Athena queries of docs/queries.md (its ```sql blocks)."""
    blocks = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "queries.md").read_text(), re.S)
    return [q.strip() for block in blocks for q in block.split(";") if q.strip()]


def test_the_docs_have_the_athena_queries():
    assert len(documented_queries()) == 4


@pytest.mark.parametrize("index", range(4))
def test_documented_queries_run_unchanged_and_answer(flow, index):
    sql = documented_queries()[index]
    assert run_query(flow.state, sql).columns

    # With the placeholder image replaced by one the flow published, every query returns rows.
    image = f"s3://{flow.stack.outputs['BucketName']}/images/Banana/0000_100.jpg"
    result = run_query(flow.state, sql.replace("s3://BUCKET/images/Apple/apple_1.jpg", image))
    assert result.rows
    if "distance" in result.columns:
        assert len(result.rows) == 10 and all(row[2] >= 0 for row in result.rows)


def test_orchard_query_answers_in_a_later_process(flow):
    sql = 'SELECT label, count(*) AS images FROM "orchard"."pca" GROUP BY label ORDER BY label'
    orchard = str(Path(sys.executable).parent / "orchard")
    command = [orchard, "query", "--state", str(flow.state), "--format", "json", sql]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert json.loads(output)[0] == {"label": "Apple Red", "images": 3}
