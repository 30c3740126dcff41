"""Erasure covers the run pages (stand-in job writing a page like the job's): an erased image's thumbnail goes
with every other run's runs/ folder (the answering turn retires them), and the answering run's own page was
built from a listing without it."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from local_support import FakeJob

from orchard.erase import erase
from orchard.local.flow import upload_images
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.samples import fruit_image
from orchard_contract.run_page import RUN_PAGE_FILE, run_page_path
from orchard_contract.tables import COUNT_KEYS
from orchard_job.run_page_figures import data_uri, thumbnail_jpeg
from orchard_job.run_page_html import PageData, RejectSummary, Thumbnail, render

pytestmark = pytest.mark.slow


@dataclass
class PageWritingJob(FakeJob):
    """The stand-in job, plus a page with a thumbnail of every image it published (as the job's sample)."""

    def write_outputs(self, run_id: str) -> None:
        super().write_outputs(run_id)
        s3, bucket = self.stack.client("s3"), self.stack.outputs["BucketName"]
        prefix = self.stack.resolver.parameter("ImagesPrefix")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        thumbnails: dict[str, list[Thumbnail]] = {}
        for key in keys:
            jpeg = thumbnail_jpeg(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) or b""
            label = key.split("/")[-2]
            thumbnails.setdefault(label, []).append(
                Thumbnail(key.removeprefix(prefix), data_uri(jpeg, "image/jpeg"))
            )
        counts = dict.fromkeys(COUNT_KEYS, len(keys)) | {"featurized_this_run": 0, "rejected": 0}
        report = {"run_id": run_id, "counts": counts, "timings": {}, "k": 2}
        shown = {label: len(thumbs) for label, thumbs in thumbnails.items()}
        scree = data_uri(b"png", "image/png")
        page = PageData(report, shown, RejectSummary(0, [], {}, []), thumbnails, scree, None, None)
        key = run_page_path(self.stack.resolver.parameter("ResultsPrefix"), run_id)
        s3.put_object(Bucket=bucket, Key=key, Body=render(page).encode())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    parameters = {"ImageSize": "96", "RetainRuns": "10", "RetainDays": "30"}
    with local_stack(tmp_path / "state", parameters, fresh=True, echo=False) as deployed:
        deployed.functions.add(JOB_RUNNER, PageWritingJob(deployed))
        yield deployed


def photos(folder: Path, label: str, seed: int) -> Path:
    for index in (1, 2):
        (folder / label).mkdir(parents=True, exist_ok=True)
        fruit_image(label, random.Random(seed + index)).save(folder / label / f"{index}.jpg", format="JPEG")
    return folder


def pages_showing(stack: LocalStack, thumbnail: str) -> list[str]:
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    pages = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if o["Key"].endswith(RUN_PAGE_FILE)
    ]
    return [
        key for key in pages if thumbnail in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    ]


def test_an_erased_images_thumbnail_survives_on_no_page(stack: LocalStack, tmp_path: Path) -> None:
    for seed, label in enumerate(("Apple", "Pear", "Plum")):
        time.sleep(1.1)  # run ids carry their batch's upload time to the second
        upload_images(stack, photos(tmp_path / label, label, 10 * seed))
        [execution] = run_pending(stack)
        assert execution.status == "SUCCEEDED", execution.cause
    erased = tmp_path / "Apple" / "Apple" / "1.jpg"
    thumbnail = data_uri(thumbnail_jpeg(erased.read_bytes()) or b"", "image/jpeg")
    assert len(pages_showing(stack, thumbnail)) == 3 and len(pages_showing(stack, "Apple/1.jpg")) == 3

    time.sleep(1.1)
    outputs = stack.outputs
    erase(stack.client("s3"), outputs["UploadPrefix"], outputs["ResultsLocation"], "Apple/1.jpg")
    [execution] = run_pending(stack)

    assert execution.status == "SUCCEEDED", execution.cause
    assert pages_showing(stack, thumbnail) == [] and pages_showing(stack, "Apple/1.jpg") == []
    [kept] = pages_showing(stack, "Pear/1.jpg")  # the answering run's page, which the catalog step updated
    assert execution.run_id in kept and pages_showing(stack, "Published</b>") == [kept]
