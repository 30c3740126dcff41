"""Where a run's outputs live under the dataset root, and how s3:// URIs split into bucket and key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlparse

RUNS_DATASET = "runs"
MODELS_DATASET = "models"
REPORT_FILE = "report.json"
SCREE_FILE = "scree.png"
# Under models/: one pointer per network id, <network id>.json, naming the run whose carried sums it uses.
MODEL_POINTERS_FOLDER = "_snapshots"
# The empty object EMRFS writes for a folder it creates, next to the folder: <folder>_$folder$.
FOLDER_MARKER = "_$folder$"


# <results>/erasures/<id>.json: what `orchard erase` deleted; the next publish erases what derives from it.
ERASURES_FOLDER = "erasures"


def erasure_request(deleted: list[str], requested_at: str) -> bytes:
    """An erasure request's body: when it was made (the run that answers it started later) and the keys."""
    return json.dumps({"requested_at": requested_at, "deleted": deleted}, indent=1).encode()


def run_folder(run_id: str) -> str:
    """A run's partition folder name (Hive style, so Glue and Spark read run_id as a column)."""
    return f"run_id={run_id}"


def run_id_of_folder(name: str) -> str | None:
    """The run id of a name run_folder gives (``run_id=<id>``, with or without a trailing slash or the
    folder's EMRFS marker); None for any other name."""
    name = name.removesuffix("/").removesuffix(FOLDER_MARKER)
    run_id = name.removeprefix("run_id=")
    return run_id if run_id != name and run_id and "/" not in run_id else None


def run_path(root: str, dataset: str, run_id: str, *names: str) -> str:
    """<root>/<dataset>/run_id=<id>[/<name>...], for any root: s3://, a local path, a key prefix or ""."""
    inside = "/".join([dataset, run_folder(run_id), *names])
    return f"{root.rstrip('/')}/{inside}" if root else inside


def report_path(root: str, run_id: str) -> str:
    return run_path(root, RUNS_DATASET, run_id, REPORT_FILE)


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # without a leading slash; a folder's has no trailing slash either

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an s3:// URI: {uri!r}")
        return cls(parsed.netloc, parsed.path.lstrip("/").rstrip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
