"""`orchard year`'s account: a line per run, the summary against the targets, the JSON, the verdict."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchard.year import Year

Figures = dict[str, Any]
WINDOW = 10  # runs in each median: runs 2-11 against the last ten
RUN_TIME_TARGET = 1.2  # the late median at most this times the early one
GROWTH = ("results_objects", "results_bytes", "history_objects", "feature_cache_files")


def run_line(figures: Figures) -> str:
    expired = {dataset: n for dataset, n in figures["expired_rows"].items() if n} or 0
    return (
        f"run {figures['run']:>3}  {figures['images']:>5} images "
        f"(+{figures['uploaded']} -{figures['deleted']})  "
        f"{figures['run_seconds']:5.1f} s (job {figures['job_seconds']:.1f}, lambda "
        f"{figures['lambda_seconds']:.1f}; emulator copy {figures['emulator_copy_seconds']:.1f} apart)  "
        f"featurized {figures['featurized']:>4}  results {figures['results_objects']} objects "
        f"{figures['results_bytes'] / 1e6:.1f} MB  cache {figures['feature_cache_files']} files  "
        f"lost {figures['lost']}  twice {figures['counted_twice']}  "
        f"rows of {figures['expired_images']} expired images: {expired}"
    )


def summarize(figures: list[Figures], year: Year) -> Figures:
    early = figures[1 : 1 + WINDOW] or figures  # run 1 featurizes every image: not in either window
    late = figures[max(1, len(figures) - WINDOW) :] or figures
    at_retention = figures[min(year.retain_runs, len(figures)) - 1]

    def median(rows: list[Figures], key: str, within: str = "") -> float:
        values = [(row[within] if within else row).get(key, 0.0) for row in rows]
        return round(statistics.median(values), 2)

    summary: Figures = {
        "early_runs": [early[0]["run"], early[-1]["run"]],
        "late_runs": [late[0]["run"], late[-1]["run"]],
    }
    for key in ("run_seconds", "job_seconds", "lambda_seconds", "emulator_copy_seconds"):
        first, last = median(early, key), median(late, key)
        summary[key] = {"early": first, "late": last, "ratio": round(last / first, 3) if first else None}
    stages = sorted({stage for row in early + late for stage in row["job_stages"]})
    summary["job_stages"] = {
        stage: {"early": median(early, stage, "job_stages"), "late": median(late, stage, "job_stages")}
        for stage in stages
    }
    summary["retention_run"] = at_retention["run"]
    for key in GROWTH:
        summary[key] = {"at_retention": at_retention[key], "late_max": max(row[key] for row in late)}
    datasets = sorted({dataset for row in figures for dataset in row["objects_by_dataset"]})
    summary["objects_by_dataset"] = {
        dataset: {
            "at_retention": at_retention["objects_by_dataset"].get(dataset, 0),
            "late_max": max(row["objects_by_dataset"].get(dataset, 0) for row in late),
        }
        for dataset in datasets
    }
    summary["mirror_files"] = {
        "at_retention": at_retention["mirror_results"]["files"],
        "late_max": max(row["mirror_results"]["files"] for row in late),
    }
    expired: dict[str, int] = {}
    for row in figures:
        for dataset, count in row["expired_rows"].items():
            expired[dataset] = max(expired.get(dataset, 0), count)
    summary["expired_rows_max"] = expired
    for key in ("lost", "counted_twice", "published_but_deleted"):
        summary[key] = max(row[key] for row in figures)
    summary["failed"] = sum(row["failed"] for row in figures)
    return summary


def holds(summary: Figures) -> bool:
    """No image lost or counted twice, no run failed, no row outliving its image's retention."""
    clean = summary["lost"] == summary["counted_twice"] == summary["published_but_deleted"] == 0
    return clean and summary["failed"] == 0 and not any(summary["expired_rows_max"].values())


def print_summary(summary: Figures) -> None:
    first, last = summary["early_runs"], summary["late_runs"]
    print(f"\nMedian seconds, runs {first[0]}-{first[1]} -> runs {last[0]}-{last[1]} (ratio):")
    for key in ("run_seconds", "job_seconds", "lambda_seconds", "emulator_copy_seconds"):
        figures = summary[key]
        print(f"  {key:<26} {figures['early']:7.2f} -> {figures['late']:7.2f}  ({figures['ratio']})")
    for stage, figures in summary["job_stages"].items():
        print(f"  {'job: ' + stage:<26} {figures['early']:7.2f} -> {figures['late']:7.2f}")
    print(f"  target: run_seconds ratio <= {RUN_TIME_TARGET}")
    print(f"Under the results prefix at run {summary['retention_run']} (RetainRuns) -> the most over runs "
          f"{last[0]}-{last[1]}:")  # fmt: skip
    growth = {**{key: summary[key] for key in GROWTH}, **summary["objects_by_dataset"]}
    for key, figures in {**growth, "mirror files (local only)": summary["mirror_files"]}.items():
        print(f"  {key:<26} {figures['at_retention']:>12} -> {figures['late_max']:>12}")
    holding = {dataset: n for dataset, n in summary["expired_rows_max"].items() if n}
    print(f"Rows outliving their image's retention (most at any run): {holding or 0}")
    for key in ("lost", "counted_twice", "published_but_deleted", "failed"):
        print(f"  {key:<26} {summary[key]}")


def write_json(path: Path, year: Year, settings: Figures, figures: list[Figures],
               summary: Figures | None = None) -> None:  # fmt: skip
    document: Figures = {"settings": {**asdict(year), **settings}, "runs": figures}
    if summary is not None:
        document |= {"summary": summary, "holds": holds(summary)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
