"""Flags -> JobConfig, labels from paths, manifest entries refused unread, glob escaping, pinned versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from orchard_job.config import parse_args
from orchard_job.contents import glob_escape, load_contents
from orchard_job.listing import (
    EMPTY,
    MISSING,
    ODD_SEGMENTS,
    OUTSIDE_INPUT,
    has_odd_segments,
    label_of,
    list_images,
)
from orchard_job.storage import normalize

REPO = Path(__file__).resolve().parents[2]


def test_flags_build_the_config() -> None:
    config = parse_args(["--input", "s3://b/images/", "--output", "s3://b/results/", "--run-id", "run-1",
                         "--weights", "random:7", "--image-size", "160", "--k", "12"])  # fmt: skip
    assert config.output == "s3://b/results"
    assert (config.weights.kind, config.weights.seed) == ("random", 7)
    assert (config.image_size, config.k, config.runtime) == (160, 12, "tflite")


def test_run_id_defaults_to_a_utc_timestamp() -> None:
    assert re.fullmatch(r"\d{8}T\d{6}Z", parse_args(["--input", "x", "--output", "y"]).run_id)


@pytest.mark.parametrize(
    "argv",
    [
        ["--output", "y"],  # neither --input nor --manifest
        ["--input", "x", "--output", "y", "--run-id", "../escape"],
        ["--input", "x", "--output", "y", "--image-size", "100"],
        ["--input", "x", "--output", "y", "--variance", "0.9", "--k", "3"],
        ["--input", "x", "--output", "y", "--variance", "1.5"],
        ["--input", "s3://b/", "--output", "s3://b/results"],  # the output inside the input
        ["--input", "/data/images/new", "--output", "file:///data/images/"],  # the input inside the output
        ["--input", "s3://b/images", "--output", "s3://b/images/"],
    ],
)
def test_bad_flags_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("path", "root", "label"),
    [
        ("s3://b/images/Apple Red/a b+c.jpg", "s3://b/images", "Apple Red"),
        ("s3://b/images/Fruits/Üñí/x.png", "s3://b/images", "Üñí"),
        ("s3://b/images/top.jpg", "s3://b/images", ""),
        ("s3://b/top.jpg", None, ""),
        ("file:/data/Kiwi/k.JPEG", None, "Kiwi"),
        ("file:/data/k.png", None, "data"),
        ("file:/k.png", None, ""),
    ],
)
def test_label_is_the_parent_folder(path: str, root: str | None, label: str) -> None:
    assert label_of(path, root) == label


def test_output_beside_the_input_is_fine() -> None:
    assert parse_args(["--input", "s3://b/images/", "--output", "s3://b/images-results"]).input


@pytest.mark.parametrize(
    ("uri", "odd"),
    [
        ("s3://b/images/../x.jpg", True),
        ("s3://b/images/./x.jpg", True),
        ("s3://b/images//x.jpg", True),
        ("s3://b//x.jpg", True),
        ("file:/data/Apple/../x.jpg", True),
        ("../x.jpg", True),
        ("s3://b/images/...jpg", False),
        ("s3://b/images/a..b/.x.jpg", False),
        ("file:///data/Apple/x.jpg", False),
        ("/data/Apple/x.jpg", False),
    ],
)
def test_odd_path_segments(uri: str, odd: bool) -> None:
    assert has_odd_segments(uri) is odd


def images_folder(root: Path) -> Path:
    """Tiny files named like images: listing never decodes them."""
    for name in ["images/Apple/a.jpg", "images/Pear/p.jpg", "elsewhere/Kiwi/k.jpg"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"listed, never decoded")
    return root / "images"


def test_manifest_entries_with_odd_segments_are_refused_unread(spark, tmp_path: Path) -> None:
    images = images_folder(tmp_path)
    # Each names an existing file once Hadoop resolves it (Apple/a.jpg): to S3 these are other keys.
    odd = [f"file:{images}/Pear/../Apple/a.jpg", f"file:{images}/./Apple/a.jpg",
           f"file:{images}//Apple/a.jpg", "s3://b/images/../outside.jpg"]  # fmt: skip
    (tmp_path / "manifest.txt").write_text("\n".join(odd) + "\n")

    listing = list_images(spark, str(images), str(tmp_path / "manifest.txt"))

    assert [image.path for image in listing.images] == [
        f"file:{images}/Apple/a.jpg",
        f"file:{images}/Pear/p.jpg",
    ]
    assert sorted((r.path, r.reason) for r in listing.rejects) == sorted((uri, ODD_SEGMENTS) for uri in odd)


def test_manifest_entries_outside_the_input_are_refused_unread(spark, tmp_path: Path) -> None:
    images = images_folder(tmp_path)
    outside = tmp_path / "elsewhere" / "Kiwi" / "k.jpg"
    (tmp_path / "manifest.txt").write_text(f"{outside}\n{images / 'Pear' / 'p.jpg'}\n")

    listing = list_images(spark, str(images), str(tmp_path / "manifest.txt"))
    assert [(r.path, r.reason) for r in listing.rejects] == [(f"file:{outside}", OUTSIDE_INPUT)]
    assert len(listing.images) == 2

    alone = list_images(spark, None, str(tmp_path / "manifest.txt"))  # a manifest alone reads anywhere
    assert sorted(image.label for image in alone.images) == ["Kiwi", "Pear"] and not alone.rejects


def test_manifest_entries_not_listed_are_empty_or_missing(spark, tmp_path: Path) -> None:
    images = images_folder(tmp_path)
    (images / "Pear" / "empty.jpg").write_bytes(b"")  # Spark lists no empty file
    (tmp_path / "manifest.txt").write_text(
        f"{images / 'Pear' / 'empty.jpg'}\n{images / 'Pear' / 'gone.jpg'}\n"
    )

    listing = list_images(spark, str(images), str(tmp_path / "manifest.txt"))
    assert sorted((Path(r.path).name, r.reason) for r in listing.rejects) == [
        ("empty.jpg", EMPTY),
        ("gone.jpg", MISSING),
    ]


def test_glob_characters_are_escaped() -> None:
    assert glob_escape("s3://b/i/[x]{y}*?.jpg") == r"s3://b/i/\[x\]\{y\}\*\?.jpg"


def test_paths_are_normalized_like_spark() -> None:
    assert normalize("s3://b/k ey.jpg") == "s3://b/k ey.jpg"
    assert normalize("file:///tmp/x.jpg") == "file:/tmp/x.jpg"
    assert normalize("/tmp/x.jpg") == "file:/tmp/x.jpg"


def test_image_pins_equal_the_local_environment() -> None:
    """The EMR image installs spark/requirements.txt; pyproject pins the same versions locally."""
    lines = (REPO / "spark" / "requirements.txt").read_text().splitlines()
    image = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    local = dict(item.split("==") for item in project)
    assert all(version for version in image.values())
    assert {name: local.get(name) for name in image} == image
    assert local["pyspark"] == "3.5.5"  # the Spark of emr-7.9.0 (Dockerfile's default release)


def test_images_are_listed_and_loaded_as_listed(spark, tmp_path: Path) -> None:
    images = images_folder(tmp_path)
    for name in ["Apple/b.JPEG", "Pear/c.Png", "Pear/notes.txt", "Pear/d.jpg.txt"]:
        (images / name).write_bytes(b"listed, never decoded")
    listing = list_images(spark, str(images), None)
    names = ["a.jpg", "b.JPEG", "c.Png", "p.jpg"]
    assert sorted(Path(image.path).name for image in listing.images) == names

    (images / "Apple" / "late.jpg").write_bytes(b"arrived after the listing")  # the next run's image
    scanned = load_contents(spark, listing.images, listing).collect()
    assert sorted(Path(row.path).name for row in scanned) == names
