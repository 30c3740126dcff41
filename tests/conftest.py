"""Shared fixtures: one local SparkSession for the whole run (JVM start-up is paid once)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The IAM check's helpers (tests/iam/*.py) and the test corpora (tests/corpora/*.py), importable by name from
# every test folder.
for helpers in ("iam", "corpora"):
    sys.path.insert(0, str(Path(__file__).parent / helpers))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    from orchard.local.spark import local_conf

    builder = SparkSession.builder.appName("orchard-tests")
    for key, value in {**local_conf(2), "spark.ui.showConsoleProgress": "false"}.items():
        builder = builder.config(key, value)
    session = builder.config("spark.sql.shuffle.partitions", "4").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def iam_evaluator() -> Iterator[object]:
    """One node process evaluating IAM requests for the whole session (tests/iam/evaluate.mjs)."""
    from iam_eval import Evaluator

    evaluator = Evaluator()
    yield evaluator
    evaluator.close()
