"""The shipped benchmark runs end to end on a tiny set and writes the figures it promises (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchard.local.spark import environment

PROMISED_KEYS = {
    "n_images", "image_size", "runtime", "seed_img_s", "orchard_img_s", "ratio_vs_seed", "featurize_img_s",
    "ceiling_img_s", "featurize_vs_ceiling", "worker_peak_rss_mb",
}  # fmt: skip


@pytest.mark.slow
def test_bench_writes_its_figures(tmp_path: Path) -> None:
    figures_path = tmp_path / "bench.json"
    command = [sys.executable, "-m", "orchard.bench", "--images", "24", "--labels", "3", "--image-size", "96",
               "--rounds", "1", "--workdir", str(tmp_path / "work"), "--json", str(figures_path)]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=900, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_path.read_text())
    assert set(figures) >= PROMISED_KEYS
    assert figures["n_images"] == 24 and figures["rerun_counts"]["featurized_this_run"] == 1
    assert figures["orchard_img_s"] > 0 and figures["seed_img_s"] > 0 and figures["worker_peak_rss_mb"] > 0


@pytest.mark.slow
def test_pca_only_times_scale_and_pca_on_the_rows_it_generates(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "orchard.bench", "--pca-only", "3000", "--workdir", str(tmp_path)]
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["pca_rows"] == 3000 and 1 <= figures["k"] <= 1280
    assert figures["scale_pca_s"] >= figures["pca_fit_s"] > 0
    assert figures["first_python_job_s"] > 0
    written = (tmp_path / "pca-only" / "pca").glob("*.parquet")
    assert sum(pq.read_metadata(path).num_rows for path in written) == 3000
