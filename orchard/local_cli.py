"""`orchard demo|upload|soak|query`: the local flow, a burst through it, and local Athena SQL."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

from orchard.samples import write_samples

SAMPLE_LABELS, SAMPLES_PER_LABEL = 12, 25


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "query":
        return query(args.state, args.sql, args.format)
    if shutil.which("java") is None:
        from orchard.cli import JAVA_MISSING

        print(JAVA_MISSING, file=sys.stderr)
        return 1
    if args.command == "soak":
        return soak(args)
    if args.command == "demo":
        images = args.images or sample_images(args.state.parent / "samples")
        parameters = {"ImageSize": str(args.image_size), "Weights": args.weights}
        return flow(args.state, images, parameters, fresh=True, cores=args.cores)
    return flow(args.state, args.directory, None, fresh=False, cores=args.cores)


def sample_images(folder: Path) -> Path:
    if not folder.exists():
        count = len(write_samples(folder, SAMPLES_PER_LABEL, SAMPLE_LABELS))
        print(f"Sample images: {count} files in {SAMPLE_LABELS} label folders (one deliberately corrupt) "
              f"under {folder}")  # fmt: skip
    return folder


def flow(state: Path, images: Path, parameters: dict[str, str] | None, *, fresh: bool, cores: int) -> int:
    from orchard.local.account import print_execution, print_report, print_sample_query
    from orchard.local.run import local_stack, upload_and_run

    if not images.is_dir():
        print(f"no such folder: {images}", file=sys.stderr)
        return 2
    if not fresh and not (state / "catalog.json").exists():
        print(f"no local stack state under {state}: run `orchard demo` first", file=sys.stderr)
        return 2
    with local_stack(state, parameters, fresh=fresh, cores=cores) as stack:
        bucket = stack.outputs["BucketName"]
        application = stack.resolver.attributes["EmrApplication.ApplicationId"]
        print(f"Local stack (moto) from template.yaml: bucket {bucket}, queue, trigger/validate/catalog "
              f"functions, Glue database {stack.resolver.refs['GlueDatabase']}, EMR Serverless application "
              f"{application}, state machine {stack.outputs['StateMachineArn']}")  # fmt: skip
        prefix = stack.resolver.parameter("ImagesPrefix")
        print(f"Uploading {images} to s3://{bucket}/{prefix} ... the trigger starts one execution per batch; "
              "Spark's progress follows.", flush=True)  # fmt: skip
        uploaded, executions = upload_and_run(stack, images)
        print(f"\nUploaded {uploaded} image(s).")
        for execution in executions:
            print_execution(execution)
            print_report(state, bucket, stack.resolver.parameter("ResultsPrefix"), execution.run_id)
    print_sample_query(state)
    print(f'\nLocal state: {state}/ (try: orchard query "SELECT * FROM runs"; orchard upload DIR)')
    return 0 if executions and all(e.status == "SUCCEEDED" for e in executions) else 1


def soak(args: argparse.Namespace) -> int:
    from orchard.local.run import local_stack
    from orchard.soak import Burst, holds, print_figures, run_burst

    burst = Burst(images=args.images, duplicate_fraction=args.duplicates)
    parameters = {"ImageSize": str(args.image_size), "Weights": "random"}
    print(f"Soak: {burst.images} uploads, {burst.duplicate_fraction:.0%} of notifications delivered twice, "
          "all shuffled; the first trigger invocation times out after it started a run.",
          flush=True)  # fmt: skip
    with local_stack(args.state, parameters, fresh=True, cores=args.cores, echo=False) as stack:
        figures = run_burst(stack, burst)
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = holds(figures)
    print("Nothing lost, nothing twice." if ok else "FAILED: see the figures above.")
    return 0 if ok else 1


def query(state: Path, sql: str, output: str) -> int:
    from orchard.local.account import format_table
    from orchard.query import QueryError, run_query

    try:
        result = run_query(state, sql)
    except QueryError as e:
        print(f"query failed: {e}", file=sys.stderr)
        return 1
    if output == "table":
        print(format_table(result, limit=1000))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        print(json.dumps(rows, indent=2, default=str))
    return 0
