"""The 96 px random network exported once per session, found by the job as the EMR image finds its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchard_job.artifact import BAKED_ENV


@pytest.fixture(scope="session")
def exported_network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("baked-network")
    export = [sys.executable, "-m", "orchard_job.artifact", str(directory), "--weights", "random"]
    subprocess.run([*export, "--sizes", "96"], check=True, capture_output=True)
    return directory


@pytest.fixture
def baked_network(exported_network: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For one test: the job uses the exported network instead of exporting its own (tests elsewhere check
    the export)."""
    monkeypatch.setenv(BAKED_ENV, str(exported_network))
    return exported_network
