"""Hostile and odd uploads (tests/corpora/hostile.py) through the whole local flow with the real Spark job:
each is featurized or rejected with its reason, none fails the run, and nothing is written outside its
place."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import HostileUpload, hostile_uploads

from orchard.local.flow import put_objects
from orchard.local.keys import KeyFolder
from orchard.local.run import Execution, local_stack, run_pending
from orchard.local.stack import LocalStack
from orchard.local.state import bucket_dir
from orchard.query import run_query
from orchard_contract.layout import report_path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("baked_network")]

WRITTEN_BY_THE_FLOW = ("manifests/", "results/", "logs/")


@dataclass
class Flow:
    stack: LocalStack
    state: Path
    uploads: list[HostileUpload]
    executions: list[Execution]
    keys: list[str]  # the bucket's keys after the run
    seconds: float

    def uri(self, key: str) -> str:
        return f"s3://{self.stack.outputs['BucketName']}/{key}"

    def expected(self, expect: str) -> list[HostileUpload]:
        return [upload for upload in self.uploads if upload.expect == expect]


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory, baked_network: Path) -> Iterator[Flow]:
    state = tmp_path_factory.mktemp("hostile") / "state"
    uploads = hostile_uploads()
    with local_stack(state, {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
        put_objects(stack, {upload.key: upload.body for upload in uploads})
        started = time.monotonic()
        executions = run_pending(stack)
        seconds = time.monotonic() - started
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        yield Flow(stack, state, uploads, executions, keys, seconds)


def test_the_run_succeeds(flow: Flow) -> None:
    assert flow.executions
    for execution in flow.executions:
        assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    print(f"flow: {flow.seconds:.1f} s")  # shown with -s


def test_every_featurized_key_is_in_pca_exactly_once_with_its_label(flow: Flow) -> None:
    rows = run_query(flow.state, "SELECT path, label FROM pca").rows
    paths = Counter(path for path, _ in rows)
    expected = {flow.uri(upload.key): upload.key.split("/")[-2] for upload in flow.expected("featurized")}
    assert dict(paths) == dict.fromkeys(expected, 1)
    assert dict(rows) == expected  # the label is the key's folder, whatever the local file is called


def test_every_rejected_key_is_in_rejects_exactly_once_with_its_reason(flow: Flow) -> None:
    rows = run_query(flow.state, "SELECT path, reason FROM rejects").rows
    assert Counter(path for path, _ in rows) == Counter(flow.uri(u.key) for u in flow.expected("rejected"))
    reasons = dict(rows)
    for upload in flow.expected("rejected"):
        assert upload.reason in reasons[flow.uri(upload.key)], upload.key


def test_ignored_keys_are_nowhere(flow: Flow) -> None:
    published = {
        row[0] for row in run_query(flow.state, "SELECT path FROM pca UNION SELECT path FROM rejects").rows
    }
    assert not published & {flow.uri(upload.key) for upload in flow.expected("ignored")}


def test_the_report_counts_every_listed_file_once(flow: Flow) -> None:
    results = flow.stack.resolver.parameter("ResultsPrefix")
    report = report_path(results, flow.executions[-1].run_id)
    written = json.loads((bucket_dir(flow.state, flow.stack.outputs["BucketName"]) / report).read_text())
    counts = written["counts"]
    assert counts["listed"] == counts["in_pca"] + counts["rejected"]
    assert (counts["in_pca"], counts["rejected"]) == (
        len(flow.expected("featurized")),
        len(flow.expected("rejected")),
    )
    # Every other file under the prefix is counted by its suffix (folder markers among those with none).
    assert {suffix: written["ignored"].get(suffix) for suffix in (".txt", ".heic")} == {".txt": 1, ".heic": 1}
    assert written["ignored"]["(none)"] >= 1  # .DS_Store


def test_the_flow_writes_only_under_its_prefixes(flow: Flow) -> None:
    uploaded = {upload.key for upload in flow.uploads}
    written = [key for key in flow.keys if key not in uploaded]
    assert written and all(
        key.startswith(WRITTEN_BY_THE_FLOW) and ".." not in key.split("/") for key in written
    )
    assert uploaded <= set(flow.keys)


def test_local_folders_hold_one_file_per_key_and_nothing_outside(flow: Flow) -> None:
    bucket = flow.stack.outputs["BucketName"]
    for root in (flow.state / "mirror", flow.state / "bucket"):
        assert all(not p.is_symlink() and p.resolve().is_relative_to(root.resolve()) for p in root.rglob("*"))
    # The job's view: the images, the manifests and the job's outputs, nothing beside them.
    assert {p.name for p in (flow.state / "mirror" / bucket).iterdir()} == {"images", "manifests", "results"}
    saved = KeyFolder(bucket_dir(flow.state, bucket))  # the saved bucket maps back to exactly its keys
    files = [p.relative_to(saved.root).as_posix() for p in saved.root.rglob("*") if p.is_file()]
    assert sorted(saved.key(file) for file in files) == sorted(flow.keys)
