"""The entry point as users and EMR run it: spark-submit spark/featurize.py, exit codes included."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from orchard.local.spark import FEATURIZE, environment, last_json_line, submit_command
from orchard.samples import fruit_image, write_samples


def submit(args: list[str]) -> subprocess.CompletedProcess[str]:
    command = submit_command(FEATURIZE, args, cores=2, conf={"spark.ui.showConsoleProgress": "false"})
    return subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=600, check=False
    )


@pytest.mark.slow
def test_spark_submit_runs_the_job_and_reports(tmp_path: Path) -> None:
    write_samples(tmp_path / "images", per_label=4, n_labels=2)
    out = tmp_path / "out"
    result = submit(["--input", str(tmp_path / "images"), "--output", f"file://{out}", "--run-id", "cli",
                     "--weights", "random", "--image-size", "96", "--k", "3"])  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    printed = last_json_line(result.stdout)
    report = json.loads(Path(printed["report"].removeprefix("file:")).read_text())
    assert report["counts"] == {
        "listed": 9,
        "featurized_this_run": 8,
        "reused_from_cache": 0,
        "rejected": 1,
        "in_pca": 8,
    }
    assert "featurized 8 images" in result.stdout  # the driver's log, which spark-submit relays on stdout

    fruit_image("Apple Red", random.Random(2026)).save(tmp_path / "images" / "Apple Red" / "added.jpg")
    rerun = submit(["--input", str(tmp_path / "images"), "--output", f"file://{out}", "--run-id", "rerun",
                    "--weights", "random", "--image-size", "96", "--k", "3"])  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "featurized 1 images" in rerun.stdout
    # The rerun reuses the network the first run exported; its one Python worker loads it once (and logs it).
    assert rerun.stderr.count(": loaded the tflite network") == 1, rerun.stderr[-3000:]


@pytest.mark.slow
def test_missing_input_fails_with_exit_code_1(tmp_path: Path) -> None:
    result = submit(
        ["--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"), "--weights", "random"]
    )
    assert result.returncode == 1
    assert f"Path does not exist: file:{tmp_path / 'nowhere'} (--input)" in result.stdout + result.stderr


def test_bad_flags_exit_with_code_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(environment()["PYSPARK_PYTHON"])), str(FEATURIZE), "--output", str(tmp_path)],
        capture_output=True, text=True, env=environment(), check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--input" in result.stderr
