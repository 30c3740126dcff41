"""`orchard`: the local entry point (installed into .venv by `make setup`).

orchard demo [--images DIR] [--state DIR] [--image-size N] [--weights random|imagenet|PATH]
             [--retain-runs N] [--retain-days N]        (the whole flow on a local stack; see orchard/local/)
orchard upload DIR [--state DIR] [--retain-runs N] [--retain-days N]
                                                        (more images into the local stack, then the flow)
orchard query "<Athena SQL>" [--format table|csv|json]   (over the published tables of the local stack)
orchard similar PHOTO [--top N] [--run ID] [--stack NAME|local] (the nearest images, and a label vote)
orchard soak [--images N] [--duplicates F] [--image-size N] (a burst through a fresh local stack; figures)
orchard year [--runs N] [--images M] [--retain-runs R] [--retain-days D] [--image-size N] [--seed S]
             [--json PATH]                              (a year of runs on a changing bucket, measured)
orchard featurize --input DIR --output DIR [job flags]     (the Spark job with local settings)
orchard samples DIR [--per-label N] [--labels N]
orchard aws-check --stack NAME|local [--region R]        (a deployed stack checked end to end: docs/aws.md)
orchard aws-teardown --stack NAME --yes [--region R]     (delete a stack and its retained bucket)
orchard erase KEY_OR_PREFIX --stack NAME|local [--state DIR] (delete images, then what derives from them)
orchard report [RUN_ID] [--stack NAME] [--state DIR]    (a run's page: its path locally, a URL on AWS)

The local stack's modules are imported by the commands that use them: `query` and `samples` start quickly.
A user's mistake (orchard.errors.UserError) ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from orchard import aws_commands
from orchard.cli_flags import (
    SOAK_STATE_DIR,
    add_retention_flags,
    add_stack_flags,
    add_year_flags,
    retention_parameters,
)
from orchard.erase import add_erase_flags, erase_command
from orchard.errors import EXIT_USER_ERROR, UserError, existing_folder, one_line
from orchard.local.state import DEFAULT_STATE_DIR, catalog_path
from orchard.run_page_command import add_report_flags, print_latest_page, report_command
from orchard.samples import write_samples
from orchard.similar import add_similar_flags, demo_example, similar_command

SAMPLE_LABELS, SAMPLES_PER_LABEL = 12, 25
NEEDS_JAVA = ("demo", "upload", "soak", "year", "featurize")


def main(argv: list[str] | None = None) -> int:
    parser = command_line()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "featurize":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command in NEEDS_JAVA and shutil.which("java") is None:
        print(aws_commands.JAVA_MISSING, file=sys.stderr)
        return 1
    args.job_args = rest  # featurize passes them through to the job
    try:
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"orchard {args.command}: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USER_ERROR


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchard", description="Images -> MobileNetV2 features -> PCA, locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_flags = commands.add_parser(
        "demo", help="run the job on sample images (or --images DIR) and show the results"
    )
    demo_flags.add_argument(
        "--images", type=Path, help="a folder of <Label>/<name>.jpg images (default: samples)"
    )
    demo_flags.add_argument("--image-size", type=int, default=224)
    demo_flags.add_argument("--weights", default="random")
    add_stack_flags(demo_flags)
    add_retention_flags(demo_flags)
    upload_flags = commands.add_parser("upload", help="upload a folder into the local stack and run the flow")
    upload_flags.add_argument("directory", type=Path)
    add_stack_flags(upload_flags)
    add_retention_flags(upload_flags)
    query_flags = commands.add_parser(
        "query", help="run Athena SQL locally over the published tables (DuckDB)"
    )
    query_flags.add_argument("sql")
    query_flags.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query_flags.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR)
    add_similar_flags(
        commands.add_parser("similar", help="the images nearest to a photo, through the run's pipeline"),
        DEFAULT_STATE_DIR,
    )
    soak_flags = commands.add_parser(
        "soak", help="a burst of uploads, duplicated and reordered, through the flow"
    )
    soak_flags.add_argument("--images", type=int, default=10_000)
    soak_flags.add_argument(
        "--duplicates", type=float, default=0.10, help="share of notifications delivered twice"
    )
    soak_flags.add_argument("--image-size", type=int, default=96)
    soak_flags.add_argument("--json", type=Path, help="also write the figures here")
    add_stack_flags(soak_flags, SOAK_STATE_DIR)
    add_year_flags(commands.add_parser("year", help="a year of runs on a changing bucket, measured"))
    featurize_flags = commands.add_parser(
        "featurize", help="spark/featurize.py with local settings (flags pass through)"
    )
    featurize_flags.add_argument("--cores", type=int, default=2)
    samples_flags = commands.add_parser("samples", help="write deterministic sample images")
    samples_flags.add_argument("directory", type=Path)
    samples_flags.add_argument("--per-label", type=int, default=25)
    samples_flags.add_argument("--labels", type=int, default=12)
    aws_commands.add_check_flags(commands.add_parser("aws-check", help="check a deployed stack end to end"))
    erase_flags = commands.add_parser("erase", help="delete images now, and what derives from them")
    add_erase_flags(erase_flags, DEFAULT_STATE_DIR)
    aws_commands.add_teardown_flags(
        commands.add_parser("aws-teardown", help="delete a stack and its retained bucket")
    )
    add_report_flags(commands.add_parser("report", help="a run's page: its path locally, a URL on AWS"))
    return parser


def featurize(args: argparse.Namespace) -> int:
    from orchard.job_inputs import check_job_inputs
    from orchard.local.spark import FEATURIZE, environment, submit_command

    check_job_inputs(args.job_args)
    return subprocess.call(submit_command(FEATURIZE, args.job_args, args.cores), env=environment())


def samples(args: argparse.Namespace) -> int:
    written = write_samples(args.directory, args.per_label, args.labels)
    print(f"wrote {len(written)} files under {args.directory}")
    return 0


def demo(args: argparse.Namespace) -> int:
    images = args.images or sample_images(args.state.parent / "samples")
    parameters = {"ImageSize": str(args.image_size), "Weights": args.weights, **retention_parameters(args)}
    code = flow(args.state, images, parameters, fresh=True, cores=args.cores)
    if code == 0:
        demo_example(args.state, images)
    print_latest_page(args.state)
    return code


def upload(args: argparse.Namespace) -> int:
    return flow(args.state, args.directory, retention_parameters(args) or None, fresh=False, cores=args.cores)


def sample_images(folder: Path) -> Path:
    if not folder.exists():
        count = len(write_samples(folder, SAMPLES_PER_LABEL, SAMPLE_LABELS))
        print(f"Sample images: {count} files in {SAMPLE_LABELS} label folders (one deliberately corrupt) "
              f"under {folder}")  # fmt: skip
    return folder


def flow(state: Path, images: Path, parameters: dict[str, str] | None, *, fresh: bool, cores: int) -> int:
    from orchard.local.account import print_execution, print_report, print_sample_query
    from orchard.local.run import local_stack, upload_and_run

    existing_folder(images, "image folder")
    if not fresh and not catalog_path(state).exists():
        raise UserError(f"no local stack state under {state}: run `orchard demo` first")
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


def year(args: argparse.Namespace) -> int:
    from orchard.year import command

    if args.runs < 1 or args.images < 2:
        print("a year needs at least one run and two images", file=sys.stderr)
        return 2
    return command(args)


def query(args: argparse.Namespace) -> int:
    from orchard.local.account import format_table
    from orchard.query import run_query

    result = run_query(args.state, args.sql)
    if args.format == "table":
        print(format_table(result, limit=1000))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        print(json.dumps(rows, indent=2, default=str))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": demo,
    "upload": upload,
    "query": query,
    "soak": soak,
    "year": year,
    "featurize": featurize,
    "samples": samples,
    "aws-check": aws_commands.aws_check,
    "aws-teardown": aws_commands.aws_teardown,
    "erase": erase_command,
    "report": report_command,
    "similar": similar_command,
}
