"""`orchard`: the local entry point (installed into .venv by `make setup`).

orchard demo [--images DIR] [--state DIR] [--image-size N] [--weights random|imagenet|PATH]
                                                        (the whole flow on a local stack; see orchard/local/)
orchard upload DIR [--state DIR]                         (more images into the local stack, then the flow)
orchard query "<Athena SQL>" [--format table|csv|json]   (over the published tables of the local stack)
orchard soak [--images N] [--duplicates F] [--image-size N] (a burst through a fresh local stack; figures)
orchard featurize --input DIR --output DIR [job flags]     (the Spark job with local settings)
orchard samples DIR [--per-label N] [--labels N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from orchard.local_spark import FEATURIZE, environment, submit_command
from orchard.samples import write_samples

DEFAULT_STATE = Path(".orchard") / "local"
JAVA_MISSING = (
    "Spark needs Java 17: install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless)."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orchard", description="Images -> MobileNetV2 features -> PCA, locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the job on sample images (or --images DIR) and show the results"
    )
    demo.add_argument("--images", type=Path, help="a folder of <Label>/<name>.jpg images (default: samples)")
    demo.add_argument("--image-size", type=int, default=224)
    demo.add_argument("--weights", default="random")
    add_stack_flags(demo)
    upload = commands.add_parser("upload", help="upload a folder into the local stack and run the flow")
    upload.add_argument("directory", type=Path)
    add_stack_flags(upload)
    query = commands.add_parser("query", help="run Athena SQL locally over the published tables (DuckDB)")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--state", type=Path, default=DEFAULT_STATE)
    soak = commands.add_parser("soak", help="a burst of uploads, duplicated and reordered, through the flow")
    soak.add_argument("--images", type=int, default=10_000)
    soak.add_argument("--duplicates", type=float, default=0.10, help="share of notifications delivered twice")
    soak.add_argument("--image-size", type=int, default=96)
    soak.add_argument("--json", type=Path, help="also write the figures here")
    add_stack_flags(soak, Path(".orchard") / "soak")
    featurize = commands.add_parser(
        "featurize", help="spark/featurize.py with local settings (flags pass through)"
    )
    featurize.add_argument("--cores", type=int, default=2)
    samples = commands.add_parser("samples", help="write deterministic sample images")
    samples.add_argument("directory", type=Path)
    samples.add_argument("--per-label", type=int, default=25)
    samples.add_argument("--labels", type=int, default=12)
    args, rest = parser.parse_known_args(argv)
    if args.command == "featurize":
        return run_job(rest, args.cores)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "samples":
        written = write_samples(args.directory, args.per_label, args.labels)
        print(f"wrote {len(written)} files under {args.directory}")
        return 0
    from orchard import local_cli

    return local_cli.dispatch(args)


def add_stack_flags(parser: argparse.ArgumentParser, state: Path = DEFAULT_STATE) -> None:
    parser.add_argument("--state", type=Path, default=state, help="local state folder (git-ignored)")
    parser.add_argument("--cores", type=int, default=2)


def run_job(job_args: list[str], cores: int) -> int:
    if shutil.which("java") is None:
        print(JAVA_MISSING, file=sys.stderr)
        return 1
    return subprocess.call(submit_command(FEATURIZE, job_args, cores), env=environment())
