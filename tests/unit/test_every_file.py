"""Every file under --input is listed, whatever its name or size, and every listed image's bytes are read:
names Spark's file index takes for hidden (in a folder or a file name), empty files, unicode and spaces;
files without an image suffix are counted by suffix; a file gone since the listing is left out, not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchard_job import storage
from orchard_job.contents import LISTING_SCAN_SHARE, hidden_to_spark, load_contents
from orchard_job.listing import EMPTY, NO_LABEL, list_images

IMAGES = [
    "Apple/a.jpg",
    "Apple/.dotted.jpg",  # a leading '.': Spark's index drops the file even when named
    "Apple/_underscored.png",
    "_Unsorted/u.jpg",  # a whole label folder Spark's index drops
    ".cache/Pear/deep.jpeg",
    "Pear/with space é.JPG",
    "Pear/a=b/_kept=1.jpg",  # '_' with '=' is a partition folder to Spark, not hidden
    "Kiwi/k.webp",
    "Kiwi/k.bmp",
    "Kiwi/k.tif",
    "Kiwi/k.gif",
]
OTHERS = ["Apple/notes.txt", "Apple/.DS_Store", "Pear/p.heic", "Pear/x.jpg._COPYING_", "README"]


def bucket(root: Path) -> Path:
    images = root / "images"
    for name in [*IMAGES, *OTHERS]:
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(f"bytes of {name}".encode())
    (images / "Apple" / "empty.jpg").write_bytes(b"")
    (images / "loose.jpg").write_bytes(b"not in a label folder")
    return images


def test_every_file_is_listed_and_counted(spark, tmp_path: Path) -> None:
    images = bucket(tmp_path)
    listing = list_images(spark, str(images), None)

    assert sorted(image.path for image in listing.images) == sorted(f"file:{images}/{n}" for n in IMAGES)
    labels = {image.path.rsplit("/", 1)[-1]: image.label for image in listing.images}
    assert labels["u.jpg"] == "_Unsorted" and labels["deep.jpeg"] == "Pear" and labels["_kept=1.jpg"] == "a=b"
    assert sorted((Path(r.path).name, r.reason) for r in listing.rejects) == [
        ("empty.jpg", EMPTY),
        ("loose.jpg", NO_LABEL),
    ]
    assert listing.ignored == {"(none)": 2, "._copying_": 1, ".heic": 1, ".txt": 1}
    assert listing.listed + sum(listing.ignored.values()) == len(IMAGES) + len(OTHERS) + 2


@pytest.mark.parametrize("share", ["all (a scan of the folder)", "few (each file by path)"])
def test_every_listed_image_is_read(spark, tmp_path: Path, share: str) -> None:
    images = bucket(tmp_path)
    listing = list_images(spark, str(images), None)
    wanted = listing.images if share.startswith("all") else listing.images[: len(IMAGES) // 3]
    assert (len(wanted) >= LISTING_SCAN_SHARE * len(listing.images)) == share.startswith("all")

    read = {row.path: bytes(row.content) for row in load_contents(spark, wanted, listing).collect()}

    assert read == {image.path: Path(image.path[len("file:") :]).read_bytes() for image in wanted}


def test_a_file_gone_since_the_listing_is_left_out(spark, tmp_path: Path) -> None:
    images = bucket(tmp_path)
    listing = list_images(spark, str(images), None)
    gone = ["Apple/a.jpg", "Apple/.dotted.jpg", "_Unsorted/u.jpg"]
    for name in gone:
        (images / name).unlink()

    for wanted in (listing.images, [i for i in listing.images if i.path.endswith(("a.jpg", "u.jpg"))]):
        read = {row.path for row in load_contents(spark, wanted, listing).collect()}
        assert read == {i.path for i in wanted} - {f"file:{images}/{name}" for name in gone}


def test_hidden_names_follow_spark() -> None:
    assert [hidden_to_spark(n) for n in ["_x", ".x", "x._COPYING_", "_metadata", "a=_b", "_a=b", "x"]] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


ODD_NAMES = [
    "Odd/per%20cent.jpg",
    "Odd/colon:x.jpg",
    "Odd/hash#1.jpg",
    "Odd/question?.jpg",
    "Odd/br{a}ce.jpg",
]
MIMIC = "Odd/x; isDirectory=false; length=1; replication=1; blocksize=1; modification_time=1}.jpg"


def test_the_local_walk_lists_what_hadoop_lists(spark, tmp_path: Path) -> None:
    images = bucket(tmp_path)
    for name in [*ODD_NAMES, MIMIC]:
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(b"x" * len(name))
    (images / "Linked").symlink_to(images / "Odd")
    (images / "Odd" / "dangling.jpg").symlink_to(images / "nowhere.jpg")  # listed by neither

    local = sorted(storage.list_files(spark, str(images)), key=lambda f: f.path)
    fs, root = storage._fs_path(spark, str(images))
    by_calls, folders = [], [root]
    while folders:  # Hadoop's answer, a call per status: the reference both fast paths must equal
        for status in fs.listStatus(folders.pop()):
            if status.isDirectory():
                folders.append(status.getPath())
            else:
                by_calls.append(storage._stored(status))

    assert local == sorted(by_calls, key=lambda f: f.path)
    assert sorted(storage._list_hadoop(spark, str(images)), key=lambda f: f.path) == local
    assert len(local) == len(IMAGES) + len(OTHERS) + 2 + 2 * (len(ODD_NAMES) + 1)


def test_a_status_text_in_doubt_is_not_parsed() -> None:
    folder = "s3://b/Apple"
    status = (
        "S3AFileStatus{path=s3://b/Apple/a.jpg; isDirectory=false; length=3; replication=1; blocksize=32; "
        "modification_time=5; access_time=0; owner=o; group=g; permission=rw-rw-rw-; isSymlink=false; "
        "hasAcl=false; isEncrypted=true; isErasureCoded=false; "
        "isEmptyDirectory=FALSE; eTag=e; versionId=null}"
    )
    assert storage._parse_statuses("{" + status + "}", folder, 1) == [
        ("s3://b/Apple/a.jpg", storage.StoredFile("s3://b/Apple/a.jpg", 3, 5000))
    ]
    assert storage._parse_statuses("{}", folder, 0) == []
    assert storage._parse_statuses("{" + status + "}", folder, 2) is None  # a name split one status in two
    assert storage._parse_statuses("{" + status + "}", "s3://b/Pear", 1) is None
    assert storage._parse_statuses("[" + status + "]", folder, 1) is None
