"""`orchard`: the local entry point (installed into .venv by `make setup`).

orchard demo [--images DIR] [--workdir DIR] [--image-size N] [--weights random|imagenet|PATH]
orchard featurize --input DIR --output DIR [job flags]     (the Spark job with local settings)
orchard samples DIR [--per-label N] [--labels N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from orchard.local_spark import FEATURIZE, environment, submit_command
from orchard.samples import write_samples

DEFAULT_WORKDIR = Path(".orchard") / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orchard", description="Images -> MobileNetV2 features -> PCA, locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the job on sample images (or --images DIR) and show the results"
    )
    demo.add_argument("--images", type=Path, help="a folder of <Label>/<name>.jpg images (default: samples)")
    demo.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    demo.add_argument("--image-size", type=int, default=224)
    demo.add_argument("--weights", default="random")
    demo.add_argument("--cores", type=int, default=2)
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
    return run_demo(args)


def run_job(job_args: list[str], cores: int) -> int:
    if shutil.which("java") is None:
        print("Spark needs Java 17: install it (Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless).",
              file=sys.stderr)  # fmt: skip
        return 1
    return subprocess.call(submit_command(FEATURIZE, job_args, cores), env=environment())


def run_demo(args: argparse.Namespace) -> int:
    images = args.images
    if images is None:
        images = args.workdir / "images"
        if not images.exists():
            count = len(write_samples(images, per_label=25, n_labels=12))
            print(
                f"Sample images: {count} files in 12 label folders (one deliberately corrupt) under {images}"
            )
    out = args.workdir / "results"
    run_id = f"demo-{len(list(out.glob('runs/run_id=*'))) + 1}"
    job_args = ["--input", str(images), "--output", str(out), "--run-id", run_id,
                "--weights", args.weights, "--image-size", str(args.image_size)]  # fmt: skip
    print(
        f"Running the Spark job locally (local[{args.cores}]): spark/featurize.py {' '.join(job_args)}",
        flush=True,
    )
    code = run_job(job_args, args.cores)
    if code != 0:
        print(f"The job failed (exit code {code}); its log is above.", file=sys.stderr)
        return code
    print_account(out, run_id)
    return 0


def print_account(out: Path, run_id: str) -> None:
    import pyarrow.parquet as pq

    report = json.loads((out / "runs" / f"run_id={run_id}" / "report.json").read_text())
    local = {name: uri.removeprefix("file:") for name, uri in report["outputs"].items()}
    counts, weights = report["counts"], report["weights"]
    print(f"\nRun {run_id}: {counts['listed']} images listed, {counts['in_pca']} in the PCA snapshot, "
          f"{counts['rejected']} rejected")  # fmt: skip
    print(f"  featurized this run: {counts['featurized_this_run']}, reused from the feature cache: "
          f"{counts['reused_from_cache']}")  # fmt: skip
    print(f"  network: MobileNetV2 {report['image_size']} px, weights {weights['kind']}"
          f"{' (seeded random: features are real but not ImageNet features)' if weights['random'] else ''},"
          f" runtime {report['runtime']}")  # fmt: skip
    target = report["variance_target"]
    goal = f"to reach {target:.0%} explained variance" if target else "(fixed k)"
    print(f"  PCA: k = {report['k']} {goal}; cumulative {report['cumulative_variance'][-1]:.2%}")
    print(
        "  stages (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in report["timings"].items())
    )
    rejects = pq.read_table(local["rejects"]).to_pylist()
    for row in rejects:
        print(f"  rejected {row['path']}: {row['reason']}")
    labels = Counter(pq.read_table(local["pca"], columns=["label"]).column("label").to_pylist())
    print("  images per label: " + ", ".join(f"{label} {count}" for label, count in sorted(labels.items())))
    print(f"  scree plot: {local['scree']}")
    print(f"  outputs under {out}: features/, pca/run_id={run_id}/, rejects/run_id={run_id}/, runs/, models/")
