"""`orchard year`'s simulated bucket, verdict and flags, without a stack (the year itself:
tests/integration/local/test_year.py)."""

from __future__ import annotations

import pytest

from orchard.cli import command_line
from orchard.year import Bucket, Year
from orchard.year_report import holds

YEAR = Year(runs=10, images=200, retain_runs=3)


def test_each_later_run_adds_overwrites_and_deletes_its_share_and_never_reuses_a_key():
    bucket = Bucket(YEAR, "bucket", "images/")
    first = bucket.new(YEAR.images)
    uploads, deleted = bucket.change(run=2)

    assert len(first) == 200 and len(deleted) == 1  # 0.5% of 200
    overwritten = [key for key in uploads if key in first]
    assert len(overwritten) == 1 and len(uploads) == 1 + 2  # 0.2% of 200 rounds to 0: at least one; 1% new
    assert not set(deleted) & set(bucket.present) and set(uploads) <= set(bucket.present)
    assert len(bucket.present) == 200 - 1 + 2
    assert len({*first, *uploads}) == 202  # new keys are new: a deleted key never comes back


def test_an_image_deleted_before_run_d_expires_when_run_d_minus_1_leaves_the_newest_retain_runs():
    bucket = Bucket(YEAR, "bucket", "images/")
    bucket.new(YEAR.images)
    _, deleted = bucket.change(run=2)
    last_run_publishing_it = 1

    assert bucket.expired(run=last_run_publishing_it + YEAR.retain_runs - 1) == set()
    assert bucket.expired(run=last_run_publishing_it + YEAR.retain_runs) == {f"s3://bucket/{deleted[0]}"}


def test_the_year_fails_on_any_row_outliving_its_retention():
    summary = {"lost": 0, "counted_twice": 0, "published_but_deleted": 0, "failed": 0}
    assert holds({**summary, "expired_rows_max": {"pca_history": 0, "features": 0}})
    assert not holds({**summary, "expired_rows_max": {"pca_history": 0, "features": 1}})
    assert not holds({**summary, "lost": 1, "expired_rows_max": {}})


def test_the_default_year_is_the_issues_and_retention_by_days_stays_out_of_the_way():
    args = command_line().parse_args(["year"])
    assert (args.runs, args.images, args.retain_runs, args.image_size) == (100, 2_000, 10, 96)
    assert args.retain_days >= 3650
    with pytest.raises(SystemExit):
        command_line().parse_args(["year", "--retain-runs", "1"])
