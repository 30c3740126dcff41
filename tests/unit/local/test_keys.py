"""S3 keys as local files (the bucket mirror and the saved bucket): one file per key, inside its folder,
mapped back to the exact key; keys a Hadoop path cannot name stay s3:// for the job to reject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from hostile import hostile_uploads
from moto import mock_aws

from orchard.local.keys import NAME_MAX, SUFFIX, KeyFolder, hadoop_addressable
from orchard.local.mirror import Mirror

BUCKET = "orchard-test"
# Beyond the corpus: keys that only a file system finds odd.
ODD_KEYS = ["/leading/slash.jpg", "../../escape.jpg", "a", "a/b", "a/b/", "~names", "x/..", "...",
            "🍎" * 100, "k/" + "é" * 600]  # fmt: skip
KEYS = sorted({upload.key for upload in hostile_uploads()} | set(ODD_KEYS))


def inside(path: Path, folder: Path) -> bool:
    return not path.is_symlink() and path.resolve().is_relative_to(folder.resolve())


def test_every_key_has_its_own_file_inside_the_folder_and_maps_back(tmp_path: Path) -> None:
    files = KeyFolder(tmp_path / "bucket")
    paths = {key: files.path(key) for key in KEYS}

    assert len(set(paths.values())) == len(KEYS)
    for key, path in paths.items():
        assert inside(path, files.root), key
        assert all(len(name.encode()) <= NAME_MAX for name in path.relative_to(files.root).parts), key
        assert files.key(path.relative_to(files.root).as_posix()) == key
    for path in sorted(paths.values(), key=lambda p: len(p.parts)):  # every one can be written
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    written = [p for p in files.root.rglob("*") if p.is_file()]
    assert sorted(files.key(p.relative_to(files.root).as_posix()) for p in written) == KEYS


def test_plain_keys_keep_their_names_so_labels_read_the_same(tmp_path: Path) -> None:
    files = KeyFolder(tmp_path / "bucket")
    for key in [
        "images/Apple Red/a b+c.jpg",
        "images/Äpfel/grüne äpfel.JPEG",
        "results/pca/run_id=r1/x.parquet",
    ]:
        assert files.path(key) == files.root / key
    assert files.folder("images/") == files.folder("images") == files.root / "images"
    assert files.path("images/Pear").parent == files.root / "images"  # a marker object is not the folder
    assert files.path("images/Pear").name != "Pear"


def test_keys_a_hadoop_path_cannot_name() -> None:
    unnamed = ["images/../x.jpg", "images/./x.jpg", "images//x.jpg", "/x.jpg", "images/", "images/a/.."]
    assert not any(hadoop_addressable(key) for key in unnamed)
    assert all(hadoop_addressable(key) for key in ["images/...jpg", "images/.hidden.jpg", "images/a..b.jpg"])


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for key in KEYS:
            s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
        yield Mirror(tmp_path / "mirror", BUCKET, s3)


def test_the_mirror_holds_every_nameable_key_once_and_nothing_outside(mirror: Mirror) -> None:
    mirror.pull("images/")
    mirror.pull("images/")  # a second sync keeps the same files

    files = [p for p in mirror.root.rglob("*") if p.is_file()]
    assert all(inside(p, mirror.root) for p in mirror.root.rglob("*"))
    under_images = [p for p in files if p.is_relative_to(mirror.files.folder("images/"))]
    keys = [mirror.files.key(p.relative_to(mirror.files.root).as_posix()) for p in under_images]
    assert sorted(keys) == [k for k in KEYS if k.startswith("images/") and hadoop_addressable(k)]
    for key in keys:
        assert mirror.path(key).read_bytes() == key.encode()


def test_uris_map_to_the_mirror_and_back_to_the_exact_key(mirror: Mirror) -> None:
    for key in KEYS:
        uri = f"s3://{BUCKET}/{key}"
        local = mirror.to_local(uri)
        assert mirror.to_s3(local) == uri
        if hadoop_addressable(key) or not SUFFIX.search(key):  # a file's key, or a folder (--input, --output)
            assert local.startswith("file:") and inside(Path(local.removeprefix("file:")), mirror.root)
        else:  # the job sees the key as written and rejects it unread; no local path can stand for it
            assert local == uri
    assert mirror.to_local(f"s3://{BUCKET}/images/") == f"file:{mirror.root / BUCKET / 'images'}/"
    assert mirror.to_local(f"s3://{BUCKET}/results") == f"file:{mirror.root / BUCKET / 'results'}"
    assert mirror.to_local("s3://another-bucket/images/a.jpg") == "s3://another-bucket/images/a.jpg"
