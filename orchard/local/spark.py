"""How Orchard runs Spark on one machine: the project's spark-submit with the job's local settings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from orchard.local import REPO

FEATURIZE = REPO / "spark" / "featurize.py"


def spark_submit() -> Path:
    """The environment's spark-submit (make setup installs a wrapper that pins the Python it runs)."""
    return Path(sys.executable).parent / "spark-submit"


def local_conf(cores: int) -> dict[str, str]:
    return {
        "spark.master": f"local[{cores}]",
        "spark.driver.memory": "2g",
        # One featurize task at a time using every core (XNNPACK threads + decoder threads): faster than
        # one single-thread interpreter per core, which share the caches (measured: docs/local.md).
        "spark.task.cpus": str(cores),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "true",
    }


def submit_command(
    script: Path, args: list[str], cores: int, conf: dict[str, str] | None = None
) -> list[str]:
    settings = {**local_conf(cores), **(conf or {})}
    command = [str(spark_submit())]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(script), *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def last_json_line(stdout: str) -> dict[str, Any]:
    """The job's closing JSON line; spark-submit relays the driver's log on the same stdout."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    raise ValueError("the job printed no JSON result line")
