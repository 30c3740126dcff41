"""The tables a run produces, with their columns in Hive/Glue types (Spark reads the same names as DDL)."""

from __future__ import annotations

from dataclasses import dataclass

Columns = tuple[tuple[str, str], ...]

FEATURE_DIM = 1280  # MobileNetV2 without its top, global average pooled

PCA_COLUMNS: Columns = (
    ("path", "string"),
    ("label", "string"),
    ("pca", "array<float>"),
    ("basis_id", "string"),  # the run that fitted the basis the vector is in (spark/orchard_job/basis.py)
)
REJECTS_COLUMNS: Columns = (("path", "string"), ("label", "string"), ("reason", "string"))
FEATURES_COLUMNS: Columns = (
    ("path", "string"),
    ("label", "string"),
    ("features", "array<float>"),
    ("content_sha256", "string"),
    ("size", "bigint"),
    ("modified", "timestamp"),
    ("model_id", "string"),
    ("weights_id", "string"),
    ("image_size", "int"),
    ("runtime", "string"),
)
# The job's report counts; every listed file ends in exactly one place: listed == in_pca + rejected.
COUNT_KEYS = ("listed", "featurized_this_run", "reused_from_cache", "rejected", "in_pca")
RUNS_COLUMNS: Columns = (
    ("run_id", "string"),
    ("status", "string"),
    ("published", "boolean"),
    ("started_at", "string"),
    ("recorded_at", "string"),
    ("manifest", "string"),
    *((key, "bigint") for key in COUNT_KEYS),
    ("ignored_files", "bigint"),  # files under the input without an image suffix (by suffix: the report)
    ("k", "int"),
    ("variance_target", "double"),
    ("cumulative_variance", "double"),
    ("explained_variance", "array<double>"),
    ("weights", "string"),
    ("image_size", "int"),
    ("runtime", "string"),
    ("job_run_id", "string"),
    ("job_seconds", "bigint"),
    ("vcpu_hours", "double"),
    ("memory_gb_hours", "double"),
    ("storage_gb_hours", "double"),
    ("estimated_cost_usd", "double"),
    ("error", "string"),
    ("cause", "string"),
    ("history_retired_at", "string"),  # when retention removed the run's history (its record stays)
)
RUN_PARTITION: Columns = (("run_id", "string"),)


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: Columns
    dataset: str  # folder under the results root
    partitioned: bool = False
    classification: str = "parquet"


PCA = TableSpec("pca", "PCA vectors of the published run (one row per current image)", PCA_COLUMNS, "pca")
REJECTS = TableSpec(
    "rejects", "Images the published run rejected, with the reason", REJECTS_COLUMNS, "rejects"
)
PCA_HISTORY = TableSpec("pca_history", "PCA vectors of every validated run", PCA_COLUMNS, "pca", True)
REJECTS_HISTORY = TableSpec(
    "rejects_history", "Rejects of every validated run", REJECTS_COLUMNS, "rejects", True
)
FEATURES = TableSpec(
    "features",
    "MobileNetV2 features, by the validated run that computed them",
    FEATURES_COLUMNS,
    "features",
    True,
)
RUNS = TableSpec(
    "runs",
    "One record per run: status, counts, k, variance, usage, cost",
    RUNS_COLUMNS,
    "run_records",
    classification="json",
)
TABLES = (PCA, REJECTS, PCA_HISTORY, REJECTS_HISTORY, FEATURES, RUNS)
# Table parameters of the published tables (pca, rejects): the run they show, and when that run started.
PUBLISHED_RUN = "orchard.run_id"
PUBLISHED_STARTED_AT = "orchard.started_at"


def spark_schema(columns: Columns) -> str:
    """The columns as a Spark DDL schema string (Spark reads Hive's type names)."""
    return ", ".join(f"{name} {hive_type}" for name, hive_type in columns)
