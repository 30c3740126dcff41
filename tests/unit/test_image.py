"""The EMR image's Dockerfile, .dockerignore, constraints and weights check, as properties (no Docker engine
here; tests/integration/test_image_rehearsal.py replays the build)."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from image_build import REPO, base_images, ignore_patterns, instructions, is_ignored, stage_values

from orchard_job.network import IMAGE_SIZES, KERAS_FILE

STEPS = instructions()
RUNS = [step.value for step in STEPS if step.keyword == "RUN"]
ARGS, ENV = stage_values(STEPS)
EMR_SPARK = {"emr-7.7.0": "3.5.3", "emr-7.8.0": "3.5.4", "emr-7.9.0": "3.5.5"}  # EMR Serverless release notes
FETCH = REPO / "spark" / "fetch-weights.sh"
RECORDED = REPO / "spark" / "imagenet-weights.sha256"
SHA256_LINE = re.compile(r"^([0-9a-f]{64})  (\S+)$")


def pins(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pairs}


def pip_installs() -> list[list[str]]:
    commands = [shlex.split(part) for run in RUNS for part in re.split(r"&&|;", run)]
    return [words for words in commands if words[1:4] == ["-m", "pip", "install"]]


def test_no_base_image_is_latest_or_untagged() -> None:
    images = base_images(STEPS)
    assert images
    for image in images:
        name, _, digest = image.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest) or re.fullmatch(r"\d{8}", tag), image


def test_base_image_is_the_emr_serverless_release_matching_pyspark() -> None:
    release = re.fullmatch(
        r"public\.ecr\.aws/emr-serverless/spark/(emr-[\d.]+)[:@].+", base_images(STEPS)[-1]
    )
    assert release, "the base image is an EMR Serverless Spark release"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert EMR_SPARK[release.group(1)] == dict(d.split("==") for d in project)["pyspark"]


def test_root_for_installs_and_hadoop_user_last() -> None:
    users = [step.value for step in STEPS if step.keyword == "USER"]
    assert users[0] == "root" and users[-1] == "hadoop:hadoop"
    assert STEPS[-1].keyword == "USER"


def test_every_pip_install_is_pinned_by_the_constraints() -> None:
    constraints = REPO / "spark" / "constraints.txt"
    copied = {
        Path(s).name: Path(s) for step in STEPS if step.keyword == "COPY" for s in step.value.split()[:-1]
    }
    installs = pip_installs()
    assert installs
    for words in installs:
        if "--no-deps" in words:  # the project alone: its dependencies are the requirements
            continue
        assert "-c" in words and Path(words[words.index("-c") + 1]).name == constraints.name, words
        requirements = REPO / copied[Path(words[words.index("-r") + 1]).name]
        locked = pins(constraints)
        assert {name: locked.get(name) for name in pins(requirements)} == pins(requirements)


def test_spark_runs_the_python_the_packages_are_installed_into() -> None:
    for words in pip_installs():
        assert Path(ENV["PYSPARK_PYTHON"]).name == words[0]
    assert ENV["PYSPARK_DRIVER_PYTHON"] == ENV["PYSPARK_PYTHON"]


def test_the_image_bakes_weights_for_every_size_the_job_accepts() -> None:
    assert tuple(int(size) for size in ARGS["SIZES"].split()) == IMAGE_SIZES
    assert {"ORCHARD_IMAGENET_WEIGHTS_DIR", "ORCHARD_MODEL_DIR"} <= set(ENV)


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    patterns = ignore_patterns()
    for step in (step for step in STEPS if step.keyword == "COPY"):
        for source in step.value.split()[:-1]:
            assert (REPO / source).exists(), source
            assert not is_ignored(source, patterns), f"{source} is left out of the build context"


@pytest.mark.parametrize(
    "path",
    [".venv/bin/python", ".git/config", ".orchard/local/state.json", "bench-results/run.json",
     "node_modules/x/index.js", "spark/node_modules/x.js", "tests/conftest.py", ".aws-sam/build/t.yaml",
     "orchard/__pycache__/cli.cpython-311.pyc", "spark/orchard_job/__pycache__/job.cpython-311.pyc",
     ".mypy_cache/3.11/x.json", "spark/.ruff_cache/x", ".pytest_cache/v/x", "spark-warehouse/t/p.parquet"],
)  # fmt: skip
def test_dockerignore_keeps_local_state_caches_and_tests_out(path: str) -> None:
    assert is_ignored(path, ignore_patterns())


def test_modules_the_build_runs_import_without_pyspark(tmp_path: Path) -> None:
    """EMR's pyspark is on the path only under spark-submit; the build runs python3.11 -m ... without it."""
    modules = [m for run in RUNS for m in re.findall(r"python3\.11 -m ([\w.]+)", run) if m != "pip"]
    assert modules
    blocked = "import sys; sys.modules.update(pyspark=None, py4j=None); import importlib; "
    for module in modules:
        code = blocked + f"importlib.import_module({module!r})"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
        )
        assert done.returncode == 0, f"{module} needs pyspark at import:\n{done.stderr[-2000:]}"


def test_the_recorded_weights_hashes_are_sha256_lines_for_the_job_files() -> None:
    names = {KERAS_FILE.format(size=size) for size in IMAGE_SIZES}
    lines = [line for line in RECORDED.read_text().splitlines() if line and not line.startswith("#")]
    recorded = [SHA256_LINE.fullmatch(line) for line in lines]
    assert all(recorded), lines
    files = [match.group(2) for match in recorded if match]
    assert set(files) <= names and len(files) == len(set(files))


def fetch(tmp_path: Path, sizes: list[int], recorded: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "recorded").write_text(RECORDED.read_text() + recorded)
    env = {**os.environ, "WEIGHTS_URL": (tmp_path / "served").as_uri()}
    command = [str(FETCH), str(tmp_path / "weights"), str(tmp_path / "recorded"), *map(str, sizes)]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def served(tmp_path: Path) -> dict[str, str]:
    """Stand-in downloads under the job's file names, served as file:// URLs; their sha256 by name."""
    (tmp_path / "served").mkdir()
    digests = {}
    for size in (96, 128):
        name = KERAS_FILE.format(size=size)
        (tmp_path / "served" / name).write_bytes(f"weights {size}".encode())
        digests[name] = hashlib.sha256(f"weights {size}".encode()).hexdigest()
    return digests


def test_unrecorded_weights_are_trusted_once_and_their_hashes_kept(
    tmp_path: Path, served: dict[str, str]
) -> None:
    done = fetch(tmp_path, [96, 128], "")
    assert done.returncode == 0, done.stderr
    kept = (tmp_path / "weights" / "SHA256SUMS").read_text().splitlines()
    assert sorted(kept) == sorted(f"{digest}  {name}" for name, digest in served.items())
    assert "no sha256 recorded" in done.stderr


def test_recorded_weights_are_verified(tmp_path: Path, served: dict[str, str]) -> None:
    recorded = "".join(f"{digest}  {name}\n" for name, digest in served.items())
    assert fetch(tmp_path, [96, 128], recorded).returncode == 0
    (tmp_path / "served" / KERAS_FILE.format(size=96)).write_bytes(b"tampered")
    done = fetch(tmp_path, [96, 128], recorded)
    assert done.returncode != 0 and "FAILED" in done.stdout


def test_every_downloaded_weights_file_needs_a_recorded_hash(tmp_path: Path, served: dict[str, str]) -> None:
    name = KERAS_FILE.format(size=96)
    done = fetch(tmp_path, [96, 128], f"{served[name]}  {name}\n")
    assert done.returncode != 0
    assert f"no sha256 recorded for {KERAS_FILE.format(size=128)}" in done.stderr
