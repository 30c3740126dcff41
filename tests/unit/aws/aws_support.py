"""Constants and builders shared by the AWS application's tests (a uniquely named module, not conftest)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchard.local.invoke import add_import_path, import_path
from orchard.local.template import functions, load_template
from orchard_contract.output_checks import OUTPUT_VIOLATIONS, REPORT_KEY
from orchard_contract.tables import FEATURE_DIM, FEATURES_COLUMNS, PCA_COLUMNS, REJECTS_COLUMNS, Columns

REPO = Path(__file__).resolve().parents[3]
# The handlers live in functions/<name>/app.py (SAM layout); tests import them as functions.<name>.app, and
# what they import from their folder and their layers resolves as on Lambda (/var/task, /opt/python).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
for _function in functions(load_template()):
    add_import_path(import_path(REPO / _function.code_uri))

TEMPLATE = REPO / "template.yaml"

REGION = "us-east-1"
BUCKET = "orchard-123456789012-us-east-1"
RESULTS = f"s3://{BUCKET}/results"
DATABASE = "orchard"
# A state machine definition's ${Name} placeholders (filled by DefinitionSubstitutions).

ARROW_TYPES = {
    "string": pa.string(),
    "float": pa.float32(),
    "double": pa.float64(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_type(hive_type: str) -> pa.DataType:
    """The Arrow type the job writes for a Hive type of the contract."""
    if hive_type.startswith("array<"):
        return pa.list_(arrow_type(hive_type.removeprefix("array<").removesuffix(">")))
    return ARROW_TYPES[hive_type]


def arrow_schema(columns: Columns) -> pa.Schema:
    return pa.schema([(name, arrow_type(hive_type)) for name, hive_type in columns])


@dataclass
class LambdaContext:
    function_name: str = "orchard-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:orchard-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@dataclass
class RunOutputs:
    """A run's outputs as the Spark job writes them (Hive-style run_id folders, _SUCCESS, part files)."""

    run_id: str
    pca: pa.Table
    rejects: pa.Table
    features: pa.Table
    report: dict[str, Any]


# A value of each Hive type, for the contract's columns a sample run does not set itself.
SAMPLE_VALUES: dict[str, Any] = {
    "string": "x",
    "boolean": False,
    "int": 0,
    "bigint": 0,
    "double": 0.0,
    "float": 0.0,
    "timestamp": datetime(2025, 3, 14, tzinfo=UTC),
    "array<float>": [0.0],
    "array<double>": [0.0],
}


def contract_table(columns: Columns, rows: int, **given: list[Any]) -> pa.Table:
    """`rows` rows with exactly the contract's columns: those given, and a sample value in every other one."""
    data = {name: given.get(name, [SAMPLE_VALUES[kind]] * rows) for name, kind in columns}
    return pa.table(data, schema=arrow_schema(columns))


def sample_run(run_id: str, images: int = 4, rejected: int = 1, k: int = 3) -> RunOutputs:
    accepted = images - rejected
    paths = [f"s3://{BUCKET}/images/Label{i % 2}/img {i}.jpg" for i in range(images)]
    labels = [f"Label{i % 2}" for i in range(images)]
    pca = contract_table(
        PCA_COLUMNS,
        accepted,
        path=paths[:accepted],
        label=labels[:accepted],
        pca=[[float(i + j) / 10 for j in range(k)] for i in range(accepted)],
    )
    rejects = contract_table(
        REJECTS_COLUMNS,
        rejected,
        path=paths[accepted:],
        label=labels[accepted:],
        reason=["decode_error"] * rejected,
    )
    features = contract_table(
        FEATURES_COLUMNS,
        accepted,
        path=paths[:accepted],
        label=labels[:accepted],
        features=[[0.5] * FEATURE_DIM for _ in range(accepted)],
        content_sha256=["0" * 64] * accepted,
        size=[1000] * accepted,
        model_id=["mobilenet_v2_1.0_224"] * accepted,
        weights_id=["imagenet"] * accepted,
        image_size=[224] * accepted,
        runtime=["tflite"] * accepted,
    )
    ratios = [0.6, 0.25, 0.12, 0.02][:k]
    report = {
        "run_id": run_id,
        "status": "succeeded",
        "counts": {
            "listed": images,
            "featurized_this_run": accepted,
            "reused_from_cache": 0,
            "rejected": rejected,
            "in_pca": accepted,
        },
        "k": k,
        "variance_target": 0.95,
        "explained_variance": ratios,
        "cumulative_variance": [sum(ratios[: i + 1]) for i in range(k)],
        "weights": {"kind": "imagenet", "id": "imagenet", "sha256": "ab" * 32, "random": False},
        "image_size": 224,
        "runtime": "tflite",
        "timings": {"total": 12.5},
        "versions": {"spark": "3.5.5", "tensorflow": "2.19.1", "python": "3.11"},
        "outputs": {"pca": f"{RESULTS}/pca/run_id={run_id}/"},
        # What the job's row-level checks report when they pass (spark/orchard_job/output_checks.py).
        REPORT_KEY: {
            **dict.fromkeys(OUTPUT_VIOLATIONS, 0),
            "pca_rows": accepted,
            "rejects_rows": rejected,
            "k": k,
        },
    }
    return RunOutputs(run_id, pca, rejects, features, report)


def policy_statements(transformed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(role, statement) for every statement of every role's inline policies in a transformed template; a
    statement under an Fn::If counts once per branch that holds one."""
    found = []
    for name, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            found += [(name, s) for s in policy["PolicyDocument"]["Statement"] for s in branches(s)]
    return found


def branches(statement: dict[str, Any]) -> list[dict[str, Any]]:
    if set(statement) != {"Fn::If"}:
        return [statement]
    return [s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"}]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of(transformed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r.get("Properties", {}) for n, r in transformed["Resources"].items() if r["Type"] == kind}


NEIGHBOUR = "neighbour"  # another stack in the same account and region
