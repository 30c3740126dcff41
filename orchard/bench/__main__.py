"""`make bench`: Orchard's job against the seed approach on the same synthetic images, plus the ceiling.

    python -m orchard.bench [--images 2400] [--labels 24] [--image-size 224] [--rounds 2] [--json PATH]
    python -m orchard.bench --pca-only 100000

Each approach runs as its own spark-submit (local[N]), interleaved round by round; images/s count the job's
own time (from session start to output written), and the wall time with JVM start-up is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from orchard.bench import measure
from orchard.samples import write_samples


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orchard.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2400)
    parser.add_argument("--labels", type=int, default=24)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="local[N] for every Spark run")
    parser.add_argument("--workdir", type=Path, default=Path("bench-results"))
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--skip-seed", action="store_true", help="skip the (slow) seed approach")
    parser.add_argument("--pca-only", type=int, metavar="N", help="time scale+PCA alone on N x 1280 rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    figures = measure.pca_only(args.pca_only, args.cores, args.workdir) if args.pca_only else full_bench(args)
    figures["machine"] = machine()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def full_bench(args: argparse.Namespace) -> dict[str, Any]:
    per_label = max(1, args.images // args.labels)
    images = args.workdir / f"images-{args.labels}x{per_label}"
    if not images.exists():
        write_samples(images, per_label, args.labels, corrupt=False)
    n_images = per_label * args.labels
    out = args.workdir / "out"
    measure.warm_artifact(images, out / "orchard", args.image_size, args.cores)
    seed_runs, orchard_runs = [], []
    for round_number in range(1, args.rounds + 1):
        if not args.skip_seed:
            seed_runs.append(measure.seed(images, out / "seed", args.image_size, args.cores))
            measure.show(f"round {round_number} seed", seed_runs[-1], n_images)
        orchard_runs.append(measure.orchard(images, out / "orchard", args.image_size, args.cores, fresh=True))
        measure.show(f"round {round_number} orchard", orchard_runs[-1], n_images)
    added = measure.add_images(images, max(1, n_images // 100))
    rerun = measure.orchard(images, out / "orchard", args.image_size, args.cores, fresh=False)
    shutil.rmtree(added)
    measure.show("orchard rerun (+1%)", rerun, n_images)
    ceiling = measure.ceiling(images, out / "orchard", args.image_size, args.cores)
    return measure.summarize(n_images, args.image_size, seed_runs, orchard_runs, rerun, ceiling)


def machine() -> dict[str, Any]:
    import os

    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    sys.exit(main())
