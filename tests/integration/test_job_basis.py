"""The basis policy through the job: a rerun that keeps the published basis copies the unchanged rows and
projects the rest, and its snapshot equals a full projection with that basis; a setting change refits."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from orchard.samples import fruit_image, write_samples
from orchard_job.config import parse_args
from orchard_job.job import run

pytestmark = pytest.mark.slow

SIZE = "96"


@pytest.fixture
def dataset(tmp_path: Path, spark) -> tuple[Path, Path]:
    images, out = tmp_path / "images", tmp_path / "out"
    write_samples(images, per_label=8, n_labels=3, corrupt=False)
    return images, out


def job(spark, images: Path, out: Path, run_id: str, *extra: str) -> dict:
    args = ["--input", str(images), "--output", str(out), "--run-id", run_id, "--weights", "random"]
    return run(spark, parse_args([*args, "--image-size", SIZE, "--variance", "0.9", *extra]))


def full_projection(out: Path, run_id: str, basis_run: str) -> dict[str, np.ndarray]:
    """Every current image's feature row (the newest per path) projected with numpy and the basis' model."""
    features = pq.read_table(out / "features").to_pydict()
    newest: dict[str, tuple[str, list[float]]] = {}
    for path, row_run, vector in zip(features["path"], features["run_id"], features["features"], strict=True):
        if path not in newest or row_run > newest[path][0]:
            newest[path] = (row_run, vector)
    model = json.loads((out / "models" / f"run_id={basis_run}" / "model.json").read_text())
    mean, std, components = (np.array(model[key]) for key in ("mean", "std", "components"))
    inverse = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    paths = pq.read_table(out / "pca" / f"run_id={run_id}").column("path").to_pylist()
    return {path: ((np.array(newest[path][1]) - mean) * inverse) @ components for path in paths}


def snapshot(out: Path, run_id: str) -> dict[str, tuple[np.ndarray, str]]:
    rows = pq.read_table(out / "pca" / f"run_id={run_id}").to_pydict()
    return {p: (np.array(v), b) for p, v, b in zip(rows["path"], rows["pca"], rows["basis_id"], strict=True)}


def test_a_kept_basis_copies_unchanged_rows_and_equals_a_full_projection(spark, dataset) -> None:
    images, out = dataset
    first = job(spark, images, out, "r1")
    assert first["basis"]["decision"] == "refit" and first["basis"]["basis_id"] == "r1"
    rng = random.Random(3)
    fruit_image("Lemon", rng).save(images / "Lemon" / "new.jpg", format="JPEG")
    shutil.copy(images / "Banana" / "0001_100.jpg", images / "Banana" / "copy.jpg")
    (images / "Banana" / "0002_100.jpg").unlink()

    # 24 images span few directions: two more move the variance enough to refit at the default tolerance.
    second = job(spark, images, out, "r2", "--basis-tolerance", "0.1")
    assert second["basis"]["decision"] == "kept", second["basis"]
    assert second["basis"]["basis_id"] == "r1"
    assert second["pca_rows"] == {"projected": 2, "copied": 23, "copied_from": "r1"}
    assert second["k"] == first["k"] and second["explained_variance"] == first["explained_variance"]
    assert 0.9 - 0.1 <= second["basis"]["explained_now"] < 0.9
    published = snapshot(out, "r2")
    assert len(published) == 25 and {b for _, b in published.values()} == {"r1"}
    expected = full_projection(out, "r2", "r1")
    for path, (vector, _) in published.items():
        np.testing.assert_allclose(vector, expected[path], rtol=1e-4, atol=1e-4)
    model = json.loads((out / "models" / "run_id=r2" / "model.json").read_text())
    assert model["basis_id"] == "r1"  # the run's own models/ folder holds the basis it published in

    # Nothing changed: every row is copied from r2, still in basis r1.
    third = job(spark, images, out, "r3", "--basis-tolerance", "0.1")
    assert third["pca_rows"] == {"projected": 0, "copied": 25, "copied_from": "r2"}
    assert {b for _, b in snapshot(out, "r3").values()} == {"r1"}


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--basis", "always"], "--basis always"),
        (["--k", "3"], "the k setting changed (--variance 0.9 -> --k 3)"),
    ],
)
def test_a_refit_projects_every_row_in_its_own_basis(spark, dataset, extra: list[str], reason: str) -> None:
    images, out = dataset
    job(spark, images, out, "r1")
    args = [a for a in extra if a != "--variance"]
    report = run(spark, parse_args(["--input", str(images), "--output", str(out), "--run-id", "r2",
                                    "--weights", "random", "--image-size", SIZE,
                                    *(args if "--k" in args else [*args, "--variance", "0.9"])]))  # fmt: skip
    assert report["basis"]["decision"] == "refit" and report["basis"]["reason"] == reason
    assert report["pca_rows"] == {"projected": 24, "copied": 0, "copied_from": None}
    published = snapshot(out, "r2")
    assert {b for _, b in published.values()} == {"r2"}
    expected = full_projection(out, "r2", "r2")
    for path, (vector, _) in published.items():
        np.testing.assert_allclose(vector, expected[path], rtol=1e-4, atol=1e-4)
