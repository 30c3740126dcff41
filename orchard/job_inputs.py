"""`orchard featurize`'s inputs, checked before Spark starts: a missing folder or weights file is one line
here, not a Python stack trace at the end of a spark-submit log."""

from __future__ import annotations

from orchard.errors import UserError, existing_file, existing_folder
from orchard_job.config import parse_args
from orchard_job.network import WeightsError, imagenet_weights_path


def check_job_inputs(job_args: list[str]) -> None:
    """The job's own flag parsing (it exits with usage on a bad flag), then what it would fail to read."""
    config = parse_args(job_args)
    for flag, uri, check in (("--input", config.input, existing_folder),
                             ("--manifest", config.manifest, existing_file)):  # fmt: skip
        if uri and local_path(uri):
            check(local_path(uri), flag)
    weights = config.weights
    if weights.kind == "imagenet":
        try:
            imagenet_weights_path(config.image_size)
        except WeightsError as e:
            raise UserError(f"--weights imagenet (the default): {e}") from e
    elif weights.kind == "file" and weights.path and local_path(weights.path):
        existing_file(local_path(weights.path), "--weights file")


def local_path(uri: str) -> str:
    """The local path a job URI names ('' for s3:// and other remote schemes)."""
    if uri.startswith("file:"):
        return "/" + uri.removeprefix("file:").lstrip("/")
    return "" if "://" in uri else uri
