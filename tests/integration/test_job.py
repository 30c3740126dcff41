"""The job end to end on local Spark, small images at 96 px: outputs, counts, schemas, incremental reruns."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchard.samples import CORRUPT_NAME, fruit_image, write_samples
from orchard_contract.tables import FEATURES_COLUMNS, PCA_COLUMNS, REJECTS_COLUMNS, Columns
from orchard_job import job as job_module
from orchard_job.config import parse_args
from orchard_job.job import run
from orchard_job.listing import GONE, Listing, list_images

# The job in-process with an exported network: the full suite's, not make test-fast's.
pytestmark = pytest.mark.slow

SIZE = "96"
NO_READS = {"added": 0, "removed": 0}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, spark) -> Path:
    """Export the 96 px random network once; each test's output starts with a copy of it."""
    images = tmp_path_factory.mktemp("warm-images")
    write_samples(images, per_label=2, n_labels=2, corrupt=False)
    out = tmp_path_factory.mktemp("warm-out")
    run(
        spark,
        parse_args(
            ["--input", str(images), "--output", str(out), "--weights", "random", "--image-size", SIZE]
        ),
    )
    return out / "_artifacts"


@pytest.fixture
def dataset(tmp_path: Path, artifacts: Path) -> tuple[Path, Path]:
    images, out = tmp_path / "images", tmp_path / "out"
    write_samples(images, per_label=6, n_labels=3)
    (images / "stray.jpg").write_bytes((images / "Banana" / "0000_100.jpg").read_bytes())  # no label folder
    (images / "Banana" / "notes.txt").write_text("not an image: not listed")
    shutil.copytree(artifacts, out / "_artifacts")
    return images, out


def job(spark, images: Path, out: Path, run_id: str, *extra: str) -> dict:
    args = ["--input", str(images), "--output", str(out), "--run-id", run_id, "--weights", "random"]
    return run(spark, parse_args([*args, "--image-size", SIZE, *extra]))


def table(path: Path) -> dict[str, list]:
    return pq.read_table(path).to_pydict()


def hive_type(arrow: pa.DataType) -> str:
    if pa.types.is_list(arrow):
        return f"array<{hive_type(arrow.value_type)}>"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    return {pa.string(): "string", pa.int32(): "int", pa.int64(): "bigint", pa.float32(): "float"}[arrow]


def columns_of(path: Path) -> Columns:
    """The Parquet files' columns with the Hive types Glue and Athena read them as."""
    schema = pq.read_schema(next(path.glob("*.parquet")))
    return tuple((field.name, hive_type(field.type)) for field in schema)


def assert_model_fits_current_features(out: Path, run_id: str) -> None:
    """The saved scaler and PCA against numpy on the run's rows: each published path's newest feature row."""
    features = table(out / "features")
    newest: dict[str, tuple[str, list[float]]] = {}
    for path, row_run, vector in zip(features["path"], features["run_id"], features["features"], strict=True):
        if path not in newest or row_run > newest[path][0]:
            newest[path] = (row_run, vector)
    x = np.array([newest[path][1] for path in table(out / "pca" / f"run_id={run_id}")["path"]], np.float64)
    std = x.std(axis=0, ddof=1)
    z = np.divide(x - x.mean(axis=0), std, out=np.zeros_like(x), where=std > 0)
    singular = np.linalg.svd(z, compute_uv=False)
    ratios = singular**2 / (singular**2).sum()
    model = np.load(out / "models" / f"run_id={run_id}" / "pca.npz")
    k = len(model["explained_variance"])
    np.testing.assert_allclose(model["mean"], x.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model["std"], std, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(model["explained_variance"], ratios[:k], atol=1e-6)


def test_first_run_outputs(spark, dataset: tuple[Path, Path]) -> None:
    images, out = dataset
    report = job(spark, images, out, "r1", "--variance", "0.9")
    counts = report["counts"]
    assert counts == {
        "listed": 20,
        "featurized_this_run": 18,
        "reused_from_cache": 0,
        "rejected": 2,
        "in_pca": 18,
    }

    assert columns_of(out / "pca" / "run_id=r1") == PCA_COLUMNS
    assert columns_of(out / "rejects" / "run_id=r1") == REJECTS_COLUMNS
    assert columns_of(out / "features" / "run_id=r1") == FEATURES_COLUMNS  # run_id: the folder
    rows = table(out / "pca" / "run_id=r1")
    assert sorted(set(rows["label"])) == ["Apple Red", "Banana", "Lemon"]
    assert {len(vector) for vector in rows["pca"]} == {report["k"]}
    assert len(set(rows["path"])) == 18

    rejects = table(out / "rejects" / "run_id=r1")
    reasons = dict(zip(rejects["path"], rejects["reason"], strict=True))
    assert any(path.endswith(CORRUPT_NAME) and "corrupt or truncated" in why for path, why in reasons.items())
    assert any(path.endswith("/stray.jpg") and "label folder" in why for path, why in reasons.items())

    features = pq.read_table(out / "features" / "run_id=r1")
    assert features.schema.field("features").type.value_type.bit_width == 32
    assert {len(v) for v in features.column("features").to_pylist()} == {1280}
    assert set(features.column("model_id").to_pylist()) == {report["model_id"]}

    assert report["weights"]["random"] is True and report["weights"]["seed"] == 1234
    assert np.cumsum(report["explained_variance"])[-1] == pytest.approx(report["cumulative_variance"][-1])
    assert report["cumulative_variance"][-1] >= 0.9
    assert set(report["timings"]) >= {"list", "featurize", "pca_fit", "pca_project", "total"}
    assert (out / "runs" / "run_id=r1" / "scree.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_model_reproduces_the_published_projection(spark, dataset: tuple[Path, Path]) -> None:
    images, out = dataset
    job(spark, images, out, "r1", "--k", "4")
    model = json.loads((out / "models" / "run_id=r1" / "model.json").read_text())
    features = table(out / "features" / "run_id=r1")
    pca = table(out / "pca" / "run_id=r1")
    published = dict(zip(pca["path"], pca["pca"], strict=True))
    mean, std, components = (np.array(model[key]) for key in ("mean", "std", "components"))
    inverse = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    for path, vector in zip(features["path"], features["features"], strict=True):
        expected = ((np.array(vector) - mean) * inverse) @ components
        np.testing.assert_allclose(published[path], expected, rtol=1e-4, atol=1e-4)
    assert model["k"] == 4 and model["image_size"] == 96


def test_rerun_featurizes_only_new_or_changed_images(spark, dataset: tuple[Path, Path]) -> None:
    images, out = dataset
    first = job(spark, images, out, "r1")
    # The first run's sums come from the featurize tasks: no row is read back for the fit.
    assert first["pca_sums"] == {"snapshot": None, "featurized_this_run": 18, "rows_read": NO_READS}
    assert_model_fits_current_features(out, "r1")
    rng = random.Random(11)
    fruit_image("Lemon", rng).save(images / "Lemon" / "new_1.jpg", format="JPEG")
    buffer = io.BytesIO()
    fruit_image("Lemon", rng).save(buffer, format="JPEG")
    (images / "Banana" / "0001_100.jpg").write_bytes(buffer.getvalue())  # overwritten with new content
    shutil.copy(images / "Lemon" / "0000_100.jpg", images / "Lemon" / "copy_of_0000.jpg")  # known content
    (images / "Banana" / "0002_100.jpg").unlink()  # deleted

    report = job(spark, images, out, "r2")
    assert report["counts"] == {
        "listed": 21,
        "featurized_this_run": 2,
        "reused_from_cache": 17,
        "rejected": 2,
        "in_pca": 19,
    }  # fmt: skip  (+1 new, +1 copy re-keyed by content, 1 overwritten and re-featurized, 1 deleted)
    # r1's partition holds dead rows (the deleted and the overwritten image): its 16 live rows move to r2.
    assert report["compaction"] == {"drained_partitions": ["r1"], "rows_moved": 16}
    assert report["feature_runs"] == ["r2"]
    published = table(out / "pca" / "run_id=r2")["path"]
    assert sorted(table(out / "features" / "run_id=r2")["path"]) == sorted(published)
    assert not any(path.endswith("Banana/0002_100.jpg") for path in published)
    assert any(path.endswith("Lemon/new_1.jpg") for path in published)
    # r1's sums, plus the 2 featurized rows, plus the re-keyed copy, minus the deleted and overwritten rows.
    read = {"added": 1, "removed": 2}
    assert report["pca_sums"] == {"snapshot": "r1", "featurized_this_run": 2, "rows_read": read}
    assert_model_fits_current_features(out, "r2")

    unchanged = job(spark, images, out, "r3")
    assert unchanged["counts"]["featurized_this_run"] == 0 and unchanged["counts"]["in_pca"] == 19
    assert unchanged["pca_sums"] == {"snapshot": "r2", "featurized_this_run": 0, "rows_read": NO_READS}
    assert unchanged["compaction"]["rows_moved"] == 0 and unchanged["feature_runs"] == ["r2"]
    assert_model_fits_current_features(out, "r3")


def test_a_retry_under_the_same_run_id_keeps_the_rows_it_reuses(spark, dataset: tuple[Path, Path]) -> None:
    images, out = dataset
    job(spark, images, out, "r1")
    fruit_image("Lemon", random.Random(5)).save(images / "Lemon" / "late.jpg", format="JPEG")
    # The retry featurizes the late image and tries the corrupt one again: its write adds to run_id=r1/.
    report = job(spark, images, out, "r1")
    assert report["counts"]["featurized_this_run"] == 1 and report["counts"]["in_pca"] == 19
    assert report["pca_sums"] == {"snapshot": "r1", "featurized_this_run": 1, "rows_read": NO_READS}
    assert_model_fits_current_features(out, "r1")


def test_an_overwrite_keeping_size_and_mtime_is_refeaturized_when_the_manifest_names_it(
    spark, dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    images, out = dataset
    target = images / "Lemon" / "0001_100.jpg"
    job(spark, images, out, "r1", "--k", "3")
    before = target.stat()
    picture = fruit_image("Apple Red", random.Random(99))
    for quality in range(90, 0, -10):  # a different picture no longer than the old file, padded after its end
        replacement = io.BytesIO()
        picture.save(replacement, format="JPEG", quality=quality)
        if len(replacement.getvalue()) <= before.st_size:
            break
    target.write_bytes(replacement.getvalue().ljust(before.st_size, b"\0"))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # S3 keeps seconds: same modification time
    manifest = tmp_path / "batch.txt"
    manifest.write_text(f"# etag=... sequencer=...\n{target}\n")
    with pytest.raises(RuntimeError, match="run again under a new run id"):  # r1 holds the old content's row
        job(spark, images, out, "r1", "--k", "3", "--manifest", str(manifest))

    report = job(spark, images, out, "r2", "--k", "3", "--manifest", str(manifest))

    assert report["counts"]["featurized_this_run"] == 1
    assert report["feature_runs"] == ["r2"]  # r1's partition held the old content's row: drained into r2
    rows = table(out / "features" / "run_id=r2")
    [new_row] = [
        v for p, v in zip(rows["path"], rows["features"], strict=True) if p.endswith("Lemon/0001_100.jpg")
    ]
    model = np.load(out / "models" / "run_id=r2" / "pca.npz")
    inverse = np.divide(1.0, model["std"], out=np.zeros_like(model["std"]), where=model["std"] > 0)
    pca = table(out / "pca" / "run_id=r2")
    [published] = [
        v for p, v in zip(pca["path"], pca["pca"], strict=True) if p.endswith("Lemon/0001_100.jpg")
    ]
    expected = ((np.array(new_row) - model["mean"]) * inverse) @ model["components"]
    np.testing.assert_allclose(published, expected, rtol=1e-4, atol=1e-4)


def test_manifest_entries_join_the_listing(spark, dataset: tuple[Path, Path], tmp_path: Path) -> None:
    images, out = dataset
    fruit_image("Kiwi", random.Random(5)).save(images / "Lemon" / "k 1+ü.jpg", format="JPEG")
    elsewhere = tmp_path / "elsewhere" / "Kiwi"
    elsewhere.mkdir(parents=True)
    fruit_image("Kiwi", random.Random(6)).save(elsewhere / "outside.jpg", format="JPEG")
    manifest = tmp_path / "batch.txt"
    manifest.write_text(
        f"# a batch\n{images / 'Lemon' / 'k 1+ü.jpg'}\n{images / 'Lemon' / '0000_100.jpg'}\n"
        f"{images / 'Lemon' / 'gone.jpg'}\n{elsewhere / 'outside.jpg'}\n\n"
    )
    report = job(spark, images, out, "m1", "--manifest", str(manifest))
    assert report["counts"]["listed"] == 23 and report["counts"]["rejected"] == 4
    rejects = table(out / "rejects" / "run_id=m1")
    reasons = {Path(p).name: r for p, r in zip(rejects["path"], rejects["reason"], strict=True)}
    assert reasons["gone.jpg"].startswith("missing")
    assert reasons["outside.jpg"].startswith("outside --input")  # not read: a manifest stays in --input
    assert any(p.endswith("Lemon/k 1+ü.jpg") for p in table(out / "pca" / "run_id=m1")["path"])


def test_tf_runtime_agrees_with_litert(spark, dataset: tuple[Path, Path]) -> None:
    images, out = dataset
    job(spark, images, out, "lite")
    job(spark, images, out, "keras", "--runtime", "tf")
    lite, keras = table(out / "features" / "run_id=lite"), table(out / "features" / "run_id=keras")
    by_path = dict(zip(keras["path"], keras["features"], strict=True))
    for path, vector in zip(lite["path"], lite["features"], strict=True):
        a, b = np.array(vector), np.array(by_path[path])
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) >= 0.9999


def test_images_gone_between_listing_and_reading_are_rejected_not_fatal(
    spark, dataset: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    images, out = dataset
    hidden = images / "Lemon" / ".hidden.jpg"  # read on the driver: Spark's index skips the name
    shutil.copy(images / "Lemon" / "0001_100.jpg", hidden)
    doomed = [images / "Banana" / "0001_100.jpg", hidden]

    def list_then_delete(*args: object) -> Listing:
        listing = list_images(*args)
        for path in doomed:
            path.unlink()
        return listing

    monkeypatch.setattr(job_module, "list_images", list_then_delete)
    report = job(spark, images, out, "g1")

    counts = report["counts"]
    assert counts["listed"] == counts["in_pca"] + counts["rejected"]
    rejects = table(out / "rejects" / "run_id=g1")
    reasons = {Path(p).name: r for p, r in zip(rejects["path"], rejects["reason"], strict=True)}
    assert {name: reasons.get(name) for name in (".hidden.jpg", "0001_100.jpg")} == dict.fromkeys(
        (".hidden.jpg", "0001_100.jpg"), GONE
    )
    assert not {
        path for path in table(out / "pca" / "run_id=g1")["path"] if "0001_100" in path and "Banana" in path
    }
