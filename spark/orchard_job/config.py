"""The job's one config object, built from command-line flags (the same flags locally and on EMR)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchard_job import storage
from orchard_job.network import IMAGE_SIZES, WeightsSpec

RUNTIMES = ("tflite", "tf")
BASIS_POLICIES = ("auto", "always", "never")  # when a run refits its PCA basis (basis.py)

# Images per network call. Small batches keep the activations in the CPU caches: LiteRT ran fastest with the
# smallest batch measured (docs/performance.md has the figures).
DEFAULT_BATCH_SIZE = 4


@dataclass(frozen=True)
class JobConfig:
    output: str
    run_id: str
    weights: WeightsSpec
    image_size: int = 224
    variance: float = 0.95
    k: int | None = None
    input: str | None = None
    manifest: str | None = None
    runtime: str = "tflite"
    batch_size: int = DEFAULT_BATCH_SIZE
    basis: str = "auto"
    basis_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if not (self.input or self.manifest):
            raise ValueError("give --input URI (folder/prefix) and/or --manifest URI")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"--image-size must be one of {IMAGE_SIZES}")
        if not 0.0 < self.variance <= 1.0:
            raise ValueError("--variance must be in (0, 1]")
        if self.k is not None and self.k < 1:
            raise ValueError("--k must be >= 1")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"--runtime must be one of {RUNTIMES}")
        if self.basis not in BASIS_POLICIES:
            raise ValueError(f"--basis must be one of {BASIS_POLICIES}")
        if not 0.0 <= self.basis_tolerance < 1.0:
            raise ValueError("--basis-tolerance must be in [0, 1)")
        if not _safe_run_id(self.run_id):
            raise ValueError("--run-id may hold letters, digits, '-', '_' and '.' only (it names folders)")
        if self.input and _nested(self.input, self.output):
            # The next listing would take the job's own outputs (scree.png, ...) for images, and a run
            # could overwrite the images it reads.
            raise ValueError("--output must not be inside --input, nor --input inside --output")


def _safe_run_id(run_id: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    return 0 < len(run_id) <= 128 and set(run_id) <= allowed and run_id not in (".", "..")


def _nested(a: str, b: str) -> bool:
    """One of two URIs (or local paths) is the other or a folder inside it."""
    a, b = (storage.normalize(uri).rstrip("/") for uri in (a, b))
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def default_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_args(argv: Sequence[str] | None = None) -> JobConfig:
    parser = argparse.ArgumentParser(
        prog="featurize.py",
        description="Images -> MobileNetV2 features -> StandardScaler -> PCA -> Parquet.",
    )
    parser.add_argument("--input", help="folder/prefix URI, listed recursively (the run's image set)")
    parser.add_argument("--manifest", help="URI of a text file listing image URIs, one per line")
    parser.add_argument("--output", required=True, help="dataset root URI")
    parser.add_argument("--run-id", default=None, help="run id (default: UTC timestamp)")
    parser.add_argument("--weights", default="imagenet", help="imagenet | random[:SEED] | PATH")
    parser.add_argument("--image-size", type=int, default=224, choices=IMAGE_SIZES)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--variance", type=float, default=0.95, help="explained variance to reach")
    group.add_argument("--k", type=int, default=None, help="fixed number of components")
    parser.add_argument("--runtime", default="tflite", choices=RUNTIMES, help="network runtime")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="images per network call")
    parser.add_argument("--basis", default="auto", choices=BASIS_POLICIES, help="PCA basis: keep or refit")
    parser.add_argument("--basis-tolerance", type=float, default=0.01, help="variance a kept basis may lose")
    args = parser.parse_args(argv)
    try:
        return JobConfig(
            output=args.output.rstrip("/"),
            run_id=args.run_id or default_run_id(),
            weights=WeightsSpec.parse(args.weights),
            image_size=args.image_size,
            variance=args.variance,
            k=args.k,
            input=args.input,
            manifest=args.manifest,
            runtime=args.runtime,
            batch_size=args.batch_size,
            basis=args.basis,
            basis_tolerance=args.basis_tolerance,
        )
    except ValueError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits
