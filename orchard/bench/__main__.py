"""`make bench`: Orchard's job against the seed approach on the same synthetic images, plus the ceiling.

    python -m orchard.bench [--images 2400] [--labels 24] [--image-size 224] [--rounds 2] [--json PATH]
    python -m orchard.bench --pca-only 100000
    python -m orchard.bench --scale [--sizes 24000,90000] [--rounds 3] [--labels 120] [--ceiling-images 8000]
                            [--pca-only 100000] [--skip-seed] [--json PATH]   (the scale targets: scale.py)

Each approach runs as its own spark-submit (local[N]), interleaved round by round; images/s count the job's
own time (from session start to output written), and the wall time with JVM start-up is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

from orchard.bench import measure, scale, targets


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orchard.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2400)
    parser.add_argument("--labels", type=int, help="label folders (default 24; 120 with --scale)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 2; 3 with --scale)")
    parser.add_argument("--cores", type=int, default=2, help="local[N] for every Spark run")
    parser.add_argument("--workdir", type=Path, default=Path("bench-results"))
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--skip-seed", action="store_true", help="skip the (slow) seed approach")
    parser.add_argument("--pca-only", type=int, metavar="N", help="time scale+PCA alone on N x 1280 rows")
    parser.add_argument("--scale", action="store_true", help="every figure of the scale targets, one run")
    parser.add_argument("--sizes", type=sizes, default=[24_000, 90_000], help="--scale: image counts")
    parser.add_argument("--ceiling-images", type=int, default=8000,
                        help="--scale: the ceiling's seeded sample of images (0: every image)")  # fmt: skip
    parser.add_argument("--ceiling-chunk", type=int, default=1024, help="--scale: images decoded at a time")
    args = parser.parse_args(argv)
    # Fruits-360 spreads ~90,000 images over ~131 labels; 120 labels: 200 per label at 24,000, 750 at 90,000.
    args.labels = args.labels or (120 if args.scale else 24)
    args.rounds = args.rounds or (3 if args.scale else 2)
    return args


def sizes(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"--sizes takes image counts separated by commas, not {text!r}"
        ) from e
    if not counts or min(counts) < 2:
        raise argparse.ArgumentTypeError("--sizes: every image count must be at least 2")
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.scale:
        return scale_main(args)
    figures = measure.pca_only(args.pca_only, args.cores, args.workdir) if args.pca_only else full_bench(args)
    figures["machine"] = machine()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def scale_main(args: argparse.Namespace) -> int:
    json_path = args.json or args.workdir / "scale.json"
    figures = scale.scale_bench(args, json_path)
    figures["machine"] = machine()
    scale.save(figures, json_path)
    targets.show(figures["table"])
    print(f"{scale.CEILING_RULE}; each figure is the median of {args.rounds} round(s). Figures: {json_path}")
    return 0


def full_bench(args: argparse.Namespace) -> dict[str, Any]:
    per_label = max(1, args.images // args.labels)
    images = measure.sample_set(args.workdir, args.labels, per_label)
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
    with measure.added_images(images, max(1, n_images // 100)):
        rerun = measure.orchard(images, out / "orchard", args.image_size, args.cores, fresh=False)
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
