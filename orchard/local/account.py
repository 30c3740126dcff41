"""The short, readable account of a local run: states, the run report, rejects, the scree plot, a query."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from orchard.local.run import Execution
from orchard.local.state import bucket_dir
from orchard.query import QueryError, Result, run_query
from orchard_contract.layout import RUNS_DATASET, SCREE_FILE, report_path, run_path
from orchard_contract.tables import REJECTS

SAMPLE_QUERY = (
    'SELECT label, count(*) AS images FROM "orchard"."pca" GROUP BY label ORDER BY images DESC, label'
)


def print_execution(execution: Execution) -> None:
    note = "" if execution.started else " (already started: redelivered batch)"
    print(f"\nExecution {execution.run_id}: {execution.status}{note}")
    for visit in execution.states:
        print(f"  {visit.name:<18} {visit.seconds:7.1f} s  {visit.outcome}")
    if execution.error:
        print(f"  error: {execution.error}: {(execution.cause or '')[:300]}")


def print_report(state_dir: Path, bucket: str, results_prefix: str, run_id: str) -> None:
    saved = bucket_dir(state_dir, bucket)  # one file per key: a run's outputs keep their key as the path
    report_file = saved / report_path(results_prefix, run_id)
    if not report_file.exists():
        print("  (the job wrote no report)")
        return
    report = json.loads(report_file.read_text())
    counts = report["counts"]
    print(f"Run report: {counts['listed']} images listed, {counts['in_pca']} in the PCA snapshot, "
          f"{counts['rejected']} rejected")  # fmt: skip
    reused = counts["reused_from_cache"]
    incremental = " (incremental: only new or changed images were featurized)" if reused else ""
    print(f"  featurized this run: {counts['featurized_this_run']}, reused from the feature cache: "
          f"{reused}{incremental}")  # fmt: skip
    weights = report["weights"]
    note = " (seeded random, not ImageNet features)" if weights.get("random") else ""
    print(f"  MobileNetV2 {report['image_size']} px, weights {weights['kind']}{note}, {report['runtime']}")
    target = report.get("variance_target")
    goal = f"smallest k reaching {target:.0%} explained variance" if target else "fixed k"
    ratios = ", ".join(f"{r:.3f}" for r in report["explained_variance"][:5])
    if not report["k"]:
        print("  PCA: k = 0: fewer than 2 images, no components (each published vector is empty)")
    else:
        print(f"  PCA: k = {report['k']} ({goal}); cumulative {report['cumulative_variance'][-1]:.2%}; "
              f"first ratios {ratios}{', ...' if report['k'] > 5 else ''}")  # fmt: skip
    rejects_dir = saved / run_path(results_prefix, REJECTS.dataset, run_id)
    for part in sorted(rejects_dir.glob("*.parquet")):
        for row in pq.read_table(part).to_pylist():
            print(f"  rejected {row['path']}: {row['reason']}")
    print(f"  scree plot: {(saved / run_path(results_prefix, RUNS_DATASET, run_id, SCREE_FILE)).resolve()}")


def format_table(result: Result, limit: int = 50) -> str:
    cells = [[_cell(v) for v in row] for row in result.rows[:limit]]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(result.columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    if len(result.rows) > limit:
        lines.append(f"... {len(result.rows) - limit} more row(s)")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 4:
        return "[" + ", ".join(_cell(v) for v in value[:4]) + f", ... ({len(value)})]"
    return "NULL" if value is None else str(value)


def print_sample_query(state_dir: Path) -> None:
    print(f"\nAthena query, run locally (orchard query):\n  {SAMPLE_QUERY}")
    try:
        print(format_table(run_query(state_dir, SAMPLE_QUERY)))
    except QueryError as e:
        print(f"  could not run: {e}")
