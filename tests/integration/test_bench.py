"""The shipped benchmark runs end to end on a tiny set and writes the figures it promises (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchard.local.spark import environment

SCALE_ROWS = [
    "featurize stage / ceiling, 240 images", "whole job / ceiling, 240 images",
    "rerun after +1% / full run, 240 images", "the bench at 480 images", "whole job / ceiling, 480 images",
    "rerun after +1% / full run, 480 images", "unchanged image in a rerun / featurized image",
    "worker peak RSS", "driver peak RSS, JVM", "driver peak RSS, Python driver", "what grows with size",
    "rerun = fixed + per unchanged image (fit over the sizes)", "scale + PCA on 2,000 x 1280 (--pca-only)",
    "ratio vs seed approach, 2,400 images",
]  # fmt: skip
RSS_KEYS = ("worker_peak_rss_mb", "driver_jvm_peak_rss_mb", "driver_python_peak_rss_mb")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workdir for the module: the exported network (96 px) is built once and reused, as in a bench."""
    return tmp_path_factory.mktemp("bench")


PROMISED_KEYS = {
    "n_images", "image_size", "runtime", "seed_img_s", "orchard_img_s", "ratio_vs_seed", "featurize_img_s",
    "ceiling_img_s", "featurize_vs_ceiling", "worker_peak_rss_mb",
}  # fmt: skip


@pytest.mark.slow
def test_bench_writes_its_figures(workdir: Path) -> None:
    figures_path = workdir / "bench.json"
    command = [sys.executable, "-m", "orchard.bench", "--images", "24", "--labels", "3", "--image-size", "96",
               "--rounds", "1", "--workdir", str(workdir), "--json", str(figures_path)]  # fmt: skip
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


@pytest.mark.slow
def test_scale_bench_writes_every_figure_of_the_table(workdir: Path) -> None:
    figures_path = workdir / "scale.json"
    command = [sys.executable, "-m", "orchard.bench", "--scale", "--sizes", "240,480", "--rounds", "1",
               "--skip-seed", "--pca-only", "2000", "--image-size", "96", "--ceiling-images", "300",
               "--ceiling-chunk", "64", "--workdir", str(workdir), "--json", str(figures_path)]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=900, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_path.read_text())
    assert [row["figure"] for row in figures["table"]] == SCALE_ROWS
    assert all(row["measured"] and row["met"] for row in figures["table"])
    assert "| figure | measured | target | met? |" in result.stdout
    for n_images, images_dir in ((240, "images-120x2"), (480, "images-120x4")):
        size = figures["sizes"][str(n_images)]
        assert size["n_images"] == n_images and len(size["rounds"]) == 1
        # The ceiling streams: a seeded sample of at most 300 images, decoded 64 at a time, before and after.
        assert [c["images"] for c in size["ceilings"]] == [min(n_images, 300)] * 2
        assert [c["chunks"] for c in size["ceilings"]] == [-(-min(n_images, 300) // 64)] * 2
        # The +1% went into the existing labels, and were removed after the rerun.
        assert size["rounds"][0]["rerun_counts"]["featurized_this_run"] == n_images // 100
        assert size["unchanged"] == n_images and "rerun_basis" in size["rounds"][0]
        images = workdir / images_dir
        assert len(list(images.glob("*/*.jpg"))) == n_images and len(list(images.iterdir())) == 120
        assert size["featurize_vs_ceiling"] > 0 and size["unchanged_ms"] > 0 and size["featurized_ms"] > 0
        assert all(size[key] > 0 for key in RSS_KEYS)
    fit, sizes = figures["derived"]["rerun_fit"], figures["sizes"].values()
    for size in sizes:  # two sizes: the fixed + per-image line passes through both reruns
        predicted = fit["fixed_s"] + fit["per_unchanged_ms"] / 1000 * size["unchanged"]
        assert predicted == pytest.approx(size["rerun_s"], abs=0.02)
    assert figures["pca_only"]["pca_rows"] == 2000 and figures["seed"] is None
