"""The image rehearsed: spark/Dockerfile's build steps and spark/smoke.sh run in an environment built the way
the image is, so what would break `docker build` or the smoke check fails here (no Docker engine here).

- python3.11: a fresh venv (standing for the dnf step) given spark/requirements.txt + constraints only,
  installed offline by the Dockerfile's own pip command from the wheels `make setup` fetched; no pyspark, no
  dev packages;
- EMR's pyspark: the project's, reachable only through spark-submit (SPARK_HOME), as in the base image;
- the ImageNet download: a no-top weights file saved from the job's seeded network under the ImageNet name,
  served as file://, its sha256 recorded for the test in place of spark/imagenet-weights.sha256;
- /opt/orchard: a temporary folder (ORCHARD_HOME); PYSPARK_PYTHON: the venv's python3.11.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import pytest
from image_build import REPO, Replayed, replay, run_step

from orchard_job.artifact import describe
from orchard_job.network import KERAS_FILE, WeightsSpec, build_network, file_sha256

pytestmark = pytest.mark.slow
SIZE = 96  # one size keeps the rehearsal quick; the image bakes every size
WHEELHOUSE = REPO / ".venv" / "wheelhouse"
RECORDED = "spark/imagenet-weights.sha256"


@dataclass(frozen=True)
class Rehearsal:
    python: Path
    env: dict[str, str]  # what a container of the image runs with: the machine's basics + the image's ENV
    workdir: Path
    built: Replayed
    weights_sha256: str


def save_seeded_no_top_weights(path: Path) -> None:
    """The job's seeded random MobileNetV2 without its top, in the Keras 2 HDF5 layout of ImageNet files."""
    from keras.src.legacy.saving import legacy_h5_format  # the layout keras.applications' downloads have

    backbone = build_network(SIZE, WeightsSpec("random")).get_layer(f"mobilenetv2_1.00_{SIZE}")
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, backbone)


def machine_env(root: Path, python: Path) -> dict[str, str]:
    """The base image's environment: PATH with python3.11 and spark-submit first, SPARK_HOME; pip offline."""
    import pyspark

    tools = root / "bin"
    tools.mkdir()
    (tools / "spark-submit").symlink_to(REPO / ".venv" / "bin" / "spark-submit")
    dev = str(REPO / ".venv")
    system = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(dev)]
    (root / "home").mkdir()
    env = {
        "PATH": os.pathsep.join([str(python.parent), str(tools), *system]),
        "HOME": str(root / "home"),  # no ~/.keras to fall back on
        "LANG": "C.UTF-8",
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    return env | {name: os.environ[name] for name in ("JAVA_HOME", "TMPDIR") if name in os.environ}


@pytest.fixture(scope="session")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    if not (WHEELHOUSE / ".complete").exists():
        pytest.fail(f"{WHEELHOUSE} is missing: run `make setup` (it fetches the image's wheels)")
    root = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "venv", str(root / "python3.11")], check=True)
    python = root / "python3.11" / "bin" / "python3.11"
    served = root / "served"
    served.mkdir()
    weights = served / KERAS_FILE.format(size=SIZE)
    save_seeded_no_top_weights(weights)
    digest = file_sha256(str(weights))
    (root / "recorded.sha256").write_text(f"{digest}  {weights.name}\n")
    overrides = {
        "ORCHARD_HOME": str(root / "opt" / "orchard"),
        "PYSPARK_PYTHON": str(python),
        "PYSPARK_DRIVER_PYTHON": str(python),
        "WEIGHTS_URL": served.as_uri(),
        "SIZES": str(SIZE),
    }
    env = machine_env(root, python)
    (root / "work").mkdir()
    built = replay(
        REPO,
        root / "work",
        run_step(env),
        overrides,
        replaced={RECORDED: root / "recorded.sha256"},
        skip=lambda command: command.startswith("dnf "),
    )
    assert set(overrides) <= set(built.args) | set(built.env), (
        "the rehearsal overrides what the file no longer sets"
    )
    yield Rehearsal(python, env | built.env, root / "work", built, digest)
    shutil.rmtree(root, ignore_errors=True)  # the venv holds TensorFlow: ~1.5 GB


def test_the_build_steps_run_with_no_pyspark_in_the_image_python(rehearsal: Rehearsal) -> None:
    assert [command.split()[0] for command in rehearsal.built.skipped] == ["dnf"]
    found = subprocess.run(
        [rehearsal.python, "-c", "import importlib.util as u; print(u.find_spec('pyspark'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "None"


def test_every_installed_package_is_pinned_by_the_constraints(rehearsal: Rehearsal) -> None:
    listed = subprocess.run(
        [rehearsal.python, "-m", "pip", "list", "--format=json"],
        env=rehearsal.env,
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {
        p["name"].lower().replace("_", "-").replace(".", "-"): p["version"] for p in json.loads(listed.stdout)
    }
    lines = (REPO / "spark" / "constraints.txt").read_text().splitlines()
    pinned = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    unpinned = {
        name: v for name, v in installed.items() if pinned.get(name) != v and name not in ("pip", "orchard")
    }
    assert not unpinned, f"installed without a pin in spark/constraints.txt: {unpinned}"


def test_the_networks_are_exported_from_the_verified_weights(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        f"{KERAS_FILE.format(size=SIZE)}: OK" in rehearsal.built.output
    )  # checked against the recorded hash
    baked = Path(rehearsal.env["ORCHARD_IMAGENET_WEIGHTS_DIR"])
    assert (baked / "SHA256SUMS").read_text().split() == [
        rehearsal.weights_sha256,
        KERAS_FILE.format(size=SIZE),
    ]
    monkeypatch.setenv("ORCHARD_IMAGENET_WEIGHTS_DIR", str(baked))
    artifact = describe(WeightsSpec("imagenet"), SIZE, "tflite")
    assert artifact.weights["sha256"] == rehearsal.weights_sha256  # the model id carries it
    assert [p.name for p in Path(rehearsal.env["ORCHARD_MODEL_DIR"]).iterdir()] == [artifact.file_name]


def test_the_smoke_check_passes(rehearsal: Rehearsal) -> None:
    home = rehearsal.built.args["ORCHARD_HOME"]  # where the rehearsal's image root puts /opt/orchard
    smoke = Path(home) / "smoke.sh"  # the copy the build put where the image has it
    done = subprocess.run(
        ["bash", str(smoke)],
        env=rehearsal.env | {"ORCHARD_HOME": home, "SMOKE_IMAGE_SIZE": str(SIZE)},
        cwd=rehearsal.workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "imports ok" in done.stdout and "smoke ok" in done.stdout
