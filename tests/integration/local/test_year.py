"""A short `orchard year` as a test: a few runs over a small changing bucket, through the CLI, the real
definition, handlers and job. It keeps the mechanisms honest (every image accounted once, only new or changed
content featurized, the history bounded by RetainRuns, no row anywhere of an image past its retention, the
feature cache's included); the year itself, with its timings, is `make year` (docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchard.cli import main
from orchard.year import HISTORY

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("baked_network")]

RUNS, IMAGES, RETAIN_RUNS = 7, 200, 3


def test_a_short_year_accounts_for_every_image_and_keeps_history_bounded(tmp_path: Path) -> None:
    figures_file = tmp_path / "year.json"
    flags = ["--runs", str(RUNS), "--images", str(IMAGES), "--retain-runs", str(RETAIN_RUNS)]
    code = main(["year", *flags, "--state", str(tmp_path / "state"), "--json", str(figures_file)])

    year = json.loads(figures_file.read_text())
    runs = year["runs"]
    assert [run["run"] for run in runs] == list(range(1, RUNS + 1))
    assert year["holds"] and code == 0
    for run in runs:
        checks = ("failed", "lost", "counted_twice", "published_but_deleted")
        assert {check: run[check] for check in checks} == dict.fromkeys(checks, 0), run["run"]
        assert run["featurized"] == (IMAGES if run["run"] == 1 else run["uploaded"])  # new or changed only
        assert run["expired_rows"] == dict.fromkeys(run["expired_rows"], 0), run["run"]  # features included
    assert runs[-1]["expired_images"] > 0  # images deleted in run 2 are past their retention from run 4 on
    at_retention = runs[RETAIN_RUNS - 1]["objects_by_dataset"]
    for run in runs[RETAIN_RUNS:]:
        for dataset in HISTORY:
            assert run["objects_by_dataset"][dataset] <= at_retention[dataset], (run["run"], dataset)
    assert runs[-1]["history_objects"] <= runs[RETAIN_RUNS - 1]["history_objects"]
