"""The 96 px random network exported once per session, found by the job as the EMR image finds its own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchard_job.artifact import BAKED_ENV


@pytest.fixture(scope="session")
def baked_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("baked-network")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "orchard_job.artifact",
            str(directory),
            "--weights",
            "random",
            "--sizes",
            "96",
        ],
        check=True,
        capture_output=True,
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv(BAKED_ENV, str(directory))
        yield directory
