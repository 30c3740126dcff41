"""The job with fewer than two decodable images: an honest snapshot with k = 0 (empty vectors), not a failure,
so that deleting images always leaves the next published snapshot; and the validate Lambda accepts it."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
import test_job
from moto import mock_aws
from test_job import columns_of, job, table

from orchard.local import REPO
from orchard.local.invoke import load_handler
from orchard.samples import CORRUPT_NAME, fruit_image
from orchard_contract.tables import PCA_COLUMNS

pytestmark = pytest.mark.slow

BUCKET = "orchard-results"
NO_COMPONENTS = {"k": 0, "explained_variance": [], "cumulative_variance": []}
artifacts, dataset = test_job.artifacts, test_job.dataset  # test_job's fixtures, shared by name


def validated(out: Path, run_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The validate Lambda's checks on the run's files as the job wrote them, copied to (moto) S3."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    handle = load_handler(REPO / "functions" / "validate", "app.handle")
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for folder in out.glob(f"*/run_id={run_id}"):
            for file in (f for f in folder.rglob("*") if f.is_file()):
                key = "results/" + file.relative_to(out).as_posix()
                s3.put_object(Bucket=BUCKET, Key=key, Body=file.read_bytes())
        summary: dict[str, Any] = handle({"output": f"s3://{BUCKET}/results", "run_id": run_id}, session)
        return summary


def assert_no_components(out: Path, run_id: str, report: dict[str, Any]) -> None:
    """The report, the model files and the plot of a run with k = 0."""
    assert {key: report[key] for key in NO_COMPONENTS} == NO_COMPONENTS
    model = json.loads((out / "models" / f"run_id={run_id}" / "model.json").read_text())
    assert (model["k"], model["n_rows"]) == (0, report["counts"]["in_pca"])
    assert (out / "runs" / f"run_id={run_id}" / "scree.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert columns_of(out / "pca" / f"run_id={run_id}") == PCA_COLUMNS  # an empty table keeps its columns


def test_deleting_all_but_one_image_then_the_last_publishes_one_row_then_none(
    spark, dataset: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    images, out = dataset
    job(spark, images, out, "r1")
    kept = images / "Lemon" / "0000_100.jpg"
    for file in [f for f in images.rglob("*") if f.is_file() and f != kept and f.suffix != ".txt"]:
        file.unlink()

    one = job(spark, images, out, "r2")
    counts = {"listed": 1, "featurized_this_run": 0, "reused_from_cache": 1, "rejected": 0, "in_pca": 1}
    assert one["counts"] == counts
    assert_no_components(out, "r2", one)
    published = table(out / "pca" / "run_id=r2")
    assert [Path(p).name for p in published["path"]] == [kept.name]
    assert (published["label"], published["pca"]) == (["Lemon"], [[]])
    assert validated(out, "r2", monkeypatch)["in_pca"] == 1

    kept.unlink()
    none = job(spark, images, out, "r3")
    assert none["counts"] == dict.fromkeys(counts, 0)
    assert_no_components(out, "r3", none)
    assert pq.read_table(out / "pca" / "run_id=r3").num_rows == 0
    assert validated(out, "r3", monkeypatch)["in_pca"] == 0

    # Images uploaded again: the next run fits a PCA as usual, from the sums the empty run carried.
    for name in ("a", "b", "c"):
        fruit_image("Banana", random.Random(name)).save(images / "Banana" / f"{name}.jpg", format="JPEG")
    again = job(spark, images, out, "r4")
    assert again["counts"]["in_pca"] == 3 and again["k"] >= 1
    assert {len(v) for v in table(out / "pca" / "run_id=r4")["pca"]} == {again["k"]}


@pytest.mark.parametrize(("valid", "corrupt"), [(1, 1), (0, 0)])
def test_a_first_run_with_fewer_than_two_decodable_images_publishes(
    spark,
    dataset: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    valid: int,
    corrupt: int,
) -> None:
    samples, out = dataset
    images = tmp_path / "fresh"
    (images / "Apple Red").mkdir(parents=True)
    for name in ["0000_100.jpg"][:valid] + [CORRUPT_NAME][:corrupt]:
        shutil.copy(samples / "Apple Red" / name, images / "Apple Red" / name)
    (images / "Apple Red" / "notes.txt").write_text("not an image: ignored")

    report = job(spark, images, out, "f1")

    assert report["counts"] == {
        "listed": valid + corrupt,
        "featurized_this_run": valid,
        "reused_from_cache": 0,
        "rejected": corrupt,
        "in_pca": valid,
    }
    assert report["ignored"] == {".txt": 1}
    assert_no_components(out, "f1", report)
    assert validated(out, "f1", monkeypatch)["in_pca"] == valid
