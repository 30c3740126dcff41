"""The EMR image's Dockerfile, checked statically (no Docker engine here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "spark" / "Dockerfile").read_text()
INSTRUCTIONS = [line.split()[0] for line in DOCKERFILE.splitlines() if line and line[0].isupper()]
EMR_SPARK = {"emr-7.7.0": "3.5.3", "emr-7.8.0": "3.5.4", "emr-7.9.0": "3.5.5"}  # EMR Serverless release notes


def test_base_image_is_the_emr_serverless_release_matching_pyspark() -> None:
    release = re.search(r"^ARG RELEASE=(\S+)$", DOCKERFILE, re.M)
    assert release, "the EMR release is a build argument"
    assert re.search(r"^FROM public\.ecr\.aws/emr-serverless/spark/\$\{RELEASE\}:latest$", DOCKERFILE, re.M)
    pins = dict(
        d.split("==") for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    assert EMR_SPARK[release.group(1)] == pins["pyspark"]


def test_root_for_installs_and_hadoop_user_last() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users[0] == "root" and users[-1] == "hadoop:hadoop"
    assert INSTRUCTIONS[-1] == "USER"


def test_installs_the_pinned_requirements_into_the_python_spark_uses() -> None:
    assert "python3.11 -m pip install --no-cache-dir -r /opt/orchard/requirements.txt" in DOCKERFILE
    assert "PYSPARK_PYTHON=/usr/bin/python3.11" in DOCKERFILE
    assert "COPY spark/requirements.txt" in DOCKERFILE


def test_weights_and_exported_networks_are_baked_in() -> None:
    assert "ORCHARD_IMAGENET_WEIGHTS_DIR=/opt/orchard/weights" in DOCKERFILE
    assert "for size in 96 128 160 192 224" in DOCKERFILE
    assert "python3.11 -m orchard_job.artifact" in DOCKERFILE
    assert "/opt/orchard/featurize.py" in DOCKERFILE


def test_every_copied_path_exists() -> None:
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for path in source.split():
            assert (REPO / path).exists(), path
