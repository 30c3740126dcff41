"""The job's outputs take the contract's shapes: report counts, run folders, tables' columns and types."""

from __future__ import annotations

import io
import json
from dataclasses import fields

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from orchard_contract.tables import COUNT_KEYS, FEATURE_DIM, FEATURES_COLUMNS, PCA_COLUMNS
from orchard_job import pca
from orchard_job.artifact import NetworkArtifact
from orchard_job.basis import Basis, model_files
from orchard_job.config import parse_args
from orchard_job.feature_cache import to_cache_table
from orchard_job.frames import conform
from orchard_job.inference import FEATURIZED_SCHEMA
from orchard_job.report import Counts, run_outputs, scree_png
from orchard_job.sums import Sums

NETWORK = NetworkArtifact("mobilenet_v2-96px-random-tflite", {"id": "random"}, 96, "tflite", "n.tflite")


def test_the_report_counts_are_the_contracts() -> None:
    assert [field.name for field in fields(Counts)] == list(COUNT_KEYS)


@pytest.mark.parametrize("root", ["s3://b/results", "/data/results", "file:/data/results"])
def test_every_output_lies_under_the_root_and_each_runs_output_in_its_run_folder(root: str) -> None:
    outputs = run_outputs(parse_args(["--input", "s3://b/in", "--output", root + "/", "--run-id", "r1"]))
    assert all(uri.startswith(root + "/") for uri in outputs.values()), outputs
    assert all("/run_id=r1" in uri for name, uri in outputs.items() if name != "features"), outputs
    assert len(set(outputs.values())) == len(outputs)


def test_the_feature_cache_rows_take_the_contracts_columns_and_types(spark) -> None:
    featurized = spark.createDataFrame(
        [("s3://b/i/A/a.jpg", "A", 10, 1_700_000_000_000_000, "sha", [0.5] * FEATURE_DIM)], FEATURIZED_SCHEMA
    )
    assert to_cache_table(featurized, NETWORK).dtypes == list(FEATURES_COLUMNS)


def test_the_published_pca_rows_take_the_contracts_columns_and_types(spark) -> None:
    x = np.random.default_rng(0).normal(size=(4, FEATURE_DIM)).astype(np.float32)
    rows = [(f"s3://b/i/A/{i}.jpg", "A", row.tolist()) for i, row in enumerate(x)]
    features = spark.createDataFrame(rows, "path string, label string, features array<float>")
    projected = pca.project(features, pca.fit(Sums.of(x), 0.9, 2))
    # The projection fills the contract's columns it knows, with their types (the job fills any other).
    assert set(projected.dtypes) <= set(PCA_COLUMNS)
    assert {"path", "label", "pca"} <= set(projected.columns)


def test_a_contract_column_the_job_does_not_fill_fails_the_write(spark) -> None:
    frame = spark.range(1).select(F.lit("p").alias("path"), F.lit("A").alias("label"))
    with pytest.raises(AnalysisException, match="basis"):
        conform(frame, (("path", "string"), ("label", "string"), ("basis", "string")))


def test_a_model_without_components_has_its_files_and_a_plot_saying_so() -> None:
    model = pca.fit(Sums.of(np.ones((1, FEATURE_DIM), np.float32)), 0.9, None)  # one image: k = 0

    files = model_files(Basis("r1", model, NETWORK.network_id, 0.9, None), NETWORK)
    described = json.loads(files["model.json"])
    arrays = np.load(io.BytesIO(files["pca.npz"]))
    assert (described["k"], described["n_rows"], described["explained_variance"]) == (0, 1, [])
    assert arrays["components"].shape == (FEATURE_DIM, 0) and arrays["mean"].shape == (FEATURE_DIM,)
    assert scree_png(model, 0.9)[:8] == b"\x89PNG\r\n\x1a\n"
