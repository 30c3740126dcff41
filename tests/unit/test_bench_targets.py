"""The scale bench's table: targets judged at their sizes, the rerun's fixed + per-image fit, what grows."""

from __future__ import annotations

from typing import Any

import pytest

from orchard.bench import targets


def size(n_images: int, rerun_s: float, rerun_vs_full: float, worker: float, jvm: float) -> dict[str, Any]:
    stages = {"list": 0.5, "cache_lookup": 0.4, "pca_project": 0.6, "total": rerun_s}
    return {
        "n_images": n_images, "featurize_vs_ceiling": 0.9, "job_vs_ceiling": 0.86, "rerun_s": rerun_s,
        "rerun_vs_full": rerun_vs_full, "unchanged": n_images, "unchanged_ms": 0.01, "featurized_ms": 2.0,
        "unchanged_vs_featurized": 0.005, "worker_peak_rss_mb": worker, "driver_jvm_peak_rss_mb": jvm,
        "driver_python_peak_rss_mb": 300.0, "ceiling_peak_rss_mb": 400.0,
        "ceilings": [{"chunks": 8, "chunk_images": 1024}],
        "rounds": [{"rerun_stage_s": stages, "unchanged_stage_s": stages, "unchanged": n_images}],
    }  # fmt: skip


def figures(ref: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    result = {
        "sizes": {str(head["n_images"]): head, str(ref["n_images"]): ref},  # order of the JSON is not trusted
        "pca_only": {"pca_rows": 100_000, "scale_pca_s": 16.0},
        "seed": {"n_images": 2400, "ratio_vs_seed": 45.0},
        "bench_peak_rss_mb": 100.0,
    }
    result["derived"] = targets.derive(result)
    return result


def met(table: list[dict[str, Any]], figure: str) -> str:
    return str(next(row["met"] for row in table if row["figure"] == figure))


def test_a_missed_rerun_ratio_is_met_through_the_fixed_plus_per_image_form() -> None:
    # 4 s fixed + 0.04 ms per unchanged image: 4.96 s at 24,000, 7.6 s at 90,000
    result = figures(size(24_000, 4.96, 0.12, 600, 900), size(90_000, 7.6, 0.06, 650, 1400))
    assert result["derived"]["rerun_fit"] == {"fixed_s": 4.0, "per_unchanged_ms": 0.04, "met": True}
    table = targets.table(result)
    assert met(table, "rerun after +1% / full run, 24,000 images") == "via the fixed + per-image form"
    assert met(table, "whole job / ceiling, 90,000 images") == "yes"
    assert met(table, "scale + PCA on 100,000 x 1280 (--pca-only)") == "no"
    assert met(table, "ratio vs seed approach, 2,400 images") == "yes"
    assert result["derived"]["rss_growth"]["largest"] == "driver JVM"
    assert result["derived"]["rss_growth"]["mb"] == {"worker": 50, "driver JVM": 500, "Python driver": 0}


def test_a_rerun_over_both_bounds_is_missed_and_worker_memory_is_judged_at_every_size() -> None:
    result = figures(size(24_000, 10.0, 0.2, 600, 900), size(90_000, 20.0, 0.1, 801, 900))
    assert result["derived"]["rerun_fit"]["fixed_s"] == pytest.approx(6.36, abs=0.01)
    table = targets.table(result)
    assert met(table, "rerun after +1% / full run, 90,000 images") == "no"
    assert met(table, "worker peak RSS") == "no"
    assert met(table, "driver peak RSS, JVM") == "-"
