"""The feature cache's plan on plain Python data (no Spark): reused unread, hashed, re-keyed or fresh."""

from __future__ import annotations

import random

import pytest

from orchard_job.cache_plan import CacheIndex, clashes, decide, look_up
from orchard_job.feature_cache import finished
from orchard_job.listing import Image
from orchard_job.sums import Sums

T = 1_700_000_000_000_000


def image(name: str, size: int = 100, modified_us: int = T, label: str = "Apple") -> Image:
    return Image(f"s3://b/images/{label}/{name}.jpg", label, size, modified_us)


A, B, C = image("a"), image("b"), image("c")
# a is cached under its key by r1, b's content (sha-b) is cached under another path by r1, c is new.
OLD_B = "s3://b/images/Apple/old-b.jpg"
INDEX = CacheIndex.of([(A.path, 100, T, "sha-a", "r1"), (OLD_B, 100, T, "sha-b", "r1")])


def test_a_cached_key_is_reused_unread_unless_the_manifest_names_it() -> None:
    lookup = look_up([A, B, C], INDEX)
    assert lookup.trusted == [A] and lookup.to_read == [B, C]
    uploaded = look_up([A, B, C], INDEX, uploaded=frozenset([A.path]))
    assert uploaded.trusted == [] and uploaded.to_read == [A, B, C]


def test_read_content_decides_between_reused_rekeyed_and_fresh() -> None:
    lookup = look_up([A, B, C], INDEX, uploaded=frozenset([A.path]))
    plan = decide(lookup, {A.path: "sha-a", B.path: "sha-b", C.path: "sha-c"}, INDEX)
    assert plan.reused == [A] and plan.rekeyed == [(B, "sha-b")] and plan.fresh == [C]
    assert plan.row_runs == {A.path: "r1"}
    assert plan.writing == [C, B]


def test_an_overwrite_keeping_the_key_is_fresh_once_read() -> None:
    plan = decide(look_up([A], INDEX, uploaded=frozenset([A.path])), {A.path: "sha-new"}, INDEX)
    assert plan.fresh == [A] and not plan.reused and not plan.rekeyed


def test_a_reused_key_holding_two_runs_rows_takes_the_content_read_or_else_the_newest() -> None:
    index = CacheIndex.of([(A.path, 100, T, "sha-old", "r1"), (A.path, 100, T, "sha-a", "r2")])
    assert decide(look_up([A], index), {}, index).row_runs == {A.path: "r2"}  # unread: the newest run
    read = decide(look_up([A], index, frozenset([A.path])), {A.path: "sha-old"}, index)
    assert read.row_runs == {A.path: "r1"}  # read: the row of that content


def test_a_run_id_that_already_holds_a_key_with_other_content_clashes() -> None:
    plan = decide(look_up([A], INDEX, frozenset([A.path])), {A.path: "sha-new"}, INDEX)
    assert clashes(plan, INDEX, "r1") == [A.path]  # r1 holds sha-a under A's key: a second row would clash
    assert clashes(plan, INDEX, "r2") == []


def test_once_written_each_image_takes_this_runs_row_unless_it_failed_to_decode() -> None:
    d = image("d", label="Pear")
    plan = decide(look_up([A, B, C, d], INDEX), {B.path: "sha-b", C.path: "sha-c", d.path: "sha-d"}, INDEX)
    update = finished(plan, "r2", [(d.path, "corrupt or truncated image")], Sums.empty())
    assert update.row_runs == {A.path: "r1", B.path: "r2", C.path: "r2"}
    assert update.featurized_paths == {C.path} and update.reused == 2  # a unread, b re-keyed
    failed = [(d.path, "Pear", "corrupt or truncated image")]
    assert [(r.path, r.label, r.reason) for r in update.rejects] == failed
    assert update.feature_runs == ["r1", "r2"]


@pytest.mark.parametrize("seed", range(20))
def test_every_image_ends_in_exactly_one_place(seed: int) -> None:
    rng = random.Random(seed)
    contents = [f"sha-{i}" for i in range(6)]
    cached = [(image(f"i{i}").path, 100, T, rng.choice(contents), rng.choice(["r1", "r2"])) for i in range(8)]
    index = CacheIndex.of(cached)
    images = [image(f"i{i}", size=rng.choice([100, 101])) for i in range(12)]
    uploaded = frozenset(i.path for i in images if rng.random() < 0.3)
    lookup = look_up(images, index, uploaded)
    hashes = {i.path: rng.choice([*contents, "sha-new"]) for i in lookup.to_read}
    plan = decide(lookup, hashes, index)

    placed = [*plan.reused, *(i for i, _ in plan.rekeyed), *plan.fresh]
    assert sorted(placed, key=lambda i: i.path) == sorted(images, key=lambda i: i.path)
    assert set(plan.row_runs) == {i.path for i in plan.reused}
    assert all(i.key in index.rows and i.path not in uploaded for i in lookup.trusted)
    assert all(hashes[i.path] not in index.hashes for i in plan.fresh)
    assert all(sha in index.hashes and sha not in index.rows.get(i.key, {}) for i, sha in plan.rekeyed)
    for i in plan.reused:  # a reused image's row holds its content when this run read it
        assert i.path not in hashes or index.rows[i.key][hashes[i.path]] == plan.row_runs[i.path]
