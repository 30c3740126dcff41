"""The 96 px random network exported once per session, found by the job as the EMR image finds its own; and
the local unit tests' helpers (the happy path, the stand-in job), importable by name."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchard_job.artifact import BAKED_ENV

UNIT_TESTS = Path(__file__).resolve().parents[2] / "unit"
for helpers in ("local", "aws"):
    if str(UNIT_TESTS / helpers) not in sys.path:
        sys.path.insert(0, str(UNIT_TESTS / helpers))


@pytest.fixture(scope="session")
def exported_network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("baked-network")
    export = [sys.executable, "-m", "orchard_job.artifact", str(directory), "--weights", "random"]
    subprocess.run([*export, "--sizes", "96"], check=True, capture_output=True)
    return directory


@pytest.fixture(scope="module")
def baked_network(exported_network: Path) -> Iterator[Path]:
    """For one test module: the job uses the exported network instead of exporting its own (tests/integration
    /local/test_local_e2e.py and tests elsewhere check the export)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BAKED_ENV, str(exported_network))
        yield exported_network
