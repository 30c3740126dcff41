"""The S3 requests the Orchard job makes through EMRFS, from a written model applied to the keys of a run.

EMRFS (EMR's s3:// file system; EMR 7.10 and later default to S3A instead, the template pins emr-7.9.0) is
closed source. What is documented, and what this model takes:
- Hadoop directories on S3 are kept as empty "<dir>_$folder$" marker objects written when EMRFS creates a
  folder (https://repost.aws/knowledge-center/emr-s3-empty-files). EMRFS grew from Hadoop's s3n connector,
  whose source shows the directory operations: getFileStatus HEADs the key, then its marker, then lists
  "<key>/"; mkdirs writes a marker for each missing ancestor; delete lists, deletes, and re-marks the parent
  (hadoop-aws 2.x, org/apache/hadoop/fs/s3native/NativeS3FileSystem.java).
- S3 answers a HEAD of a missing key with 404 only to a caller allowed s3:ListBucket on the bucket, else 403
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html); EMRFS takes 403 as a failure.
- The EMRFS S3-optimized committer (default since EMR 5.20) writes every task file as a multipart upload that
  is completed at task commit and aborted when the task fails
  (https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-spark-committer-multipart.html); multipart
  requests are authorized as s3:PutObject, the abort as s3:AbortMultipartUpload.
- EMR Serverless uploads the job's logs to the LogUri of its monitoring configuration with the job's role
  (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/logging.html).

The job's file operations (spark/orchard_job): carried_sums.load (exists, then reads of the pointer and the
snapshot files), list_images (the input folder listed recursively, the manifest read, missing entries probed),
feature_cache.cached_rows (exists, then the cache read), artifact.ship (exists, then two single-file writes),
the weights copy for Weights=s3:// (job.local_weights: HEAD then GET), the Parquet writes (rejects and pca
with mode overwrite, features with mode append), report.write_run_files and carried_sums.save (single-file
writes).

Conservative where EMRFS's exact sequence is unknown: a probe of a folder is evaluated as missing (its 404
needs s3:ListBucket), every folder written into may be new (its marker and its ancestors' are written), an
overwrite may find an earlier attempt's output (a retried task deletes it), and a multipart upload may be
aborted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from iam_calls import Call
from iam_roles import JOB

from orchard_contract.layout import FOLDER_MARKER as MARKER

SUCCESS = "_SUCCESS"
# A committed task's upload; a failed task's is aborted instead of completed (both are evaluated).
MULTIPART = ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload")


@dataclass(frozen=True)
class JobRun:
    """A run of the job as the model needs it: where it reads and writes, and the keys before and after."""

    bucket: str
    images: str  # the input folder's key (no slash), e.g. "images"
    output: str  # the dataset root's key, e.g. "results"
    run_id: str
    manifest: str  # the manifest's key
    image_keys: frozenset[str]
    before: frozenset[str]  # keys under output when the run starts
    after: frozenset[str]  # keys under output when it ends
    application_id: str = "00fapplication000"
    job_run_id: str = "00fjobrun00000000"
    weights: str | None = None  # s3://bucket/key of a weights file


@dataclass
class Emrfs:
    """The requests of Hadoop FileSystem operations on one bucket; `existing`: keys whose HEAD answers 200."""

    bucket: str
    existing: frozenset[str]
    step: str = ""
    calls: list[Call] = field(default_factory=list)

    def s3(self, operation: str, error: str | None = None, **params: Any) -> None:
        origin = f"EMRFS {self.step}: {operation} {params.get('Key', params.get('Prefix', ''))}"
        self.calls.append(Call(JOB, "s3", operation, {"Bucket": self.bucket, **params}, error, origin))

    def head(self, key: str) -> None:
        self.s3("HeadObject", None if key in self.existing else "404", Key=key)

    def get_file_status(self, path: str, *, is_file: bool = False) -> None:
        self.head(path)
        if not (is_file and path in self.existing):
            self.head(path + MARKER)
            self.s3("ListObjectsV2", Prefix=path + "/", Delimiter="/", MaxKeys=1)

    def open(self, path: str) -> None:
        self.get_file_status(path, is_file=True)
        self.s3("GetObject", Key=path)

    def list_status(self, folder: str) -> None:
        self.head(folder)
        self.s3("ListObjectsV2", Prefix=folder + "/", Delimiter="/")
        self.head(folder + MARKER)

    def mkdirs(self, folder: str) -> None:
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            ancestor = "/".join(parts[:depth])
            self.get_file_status(ancestor)
            self.s3("PutObject", Key=ancestor + MARKER)

    def create(self, path: str) -> None:
        self.mkdirs(path.rsplit("/", 1)[0])
        for operation in MULTIPART:
            self.s3(operation, Key=path)

    def delete(self, folder: str, keys: Iterable[str]) -> None:
        self.get_file_status(folder)
        if "/" in folder:  # the parent's marker keeps the parent (s3n createParent)
            self.s3("PutObject", Key=folder.rsplit("/", 1)[0] + MARKER)
        self.s3("ListObjectsV2", Prefix=folder + "/")
        # With no file known: the marker mkdirs wrote below it (the committer's _temporary/0).
        objects = [{"Key": key} for key in sorted(keys)] or [{"Key": f"{folder}/0{MARKER}"}]
        self.s3("DeleteObjects", Delete={"Objects": objects})
        self.s3("DeleteObject", Key=folder + MARKER)

    def copy_from_local(self, path: str) -> None:
        self.get_file_status(path, is_file=True)  # FileUtil.checkDest
        self.create(path)

    def read_tree(self, folder: str, files: Iterable[str]) -> None:
        """A Spark read of a folder: every folder below it listed, every file opened."""
        files = sorted(files)
        parents = {f.rsplit("/", 1)[0] for f in files}
        depth = folder.count("/") + 1
        folders = {"/".join(p.split("/")[:n]) for p in parents for n in range(depth, p.count("/") + 2)}
        self.get_file_status(folder)
        for name in sorted(folders):
            self.list_status(name)
        for file in files:
            self.open(file)

    def write_dataset(self, folder: str, files: Iterable[str], *, overwrite: bool) -> None:
        """A DataFrame write of one folder through the committer."""
        files = sorted(f for f in files if not f.endswith("/" + SUCCESS))
        self.get_file_status(folder)
        if overwrite:
            self.delete(folder, files)
        self.mkdirs(folder + "/_temporary/0")
        for file in files:
            self.create(file)
        self.create(folder + "/" + SUCCESS)
        self.delete(folder + "/_temporary", [])


def job_calls(run: JobRun) -> list[Call]:
    """Every S3 request the model gives for this run, in the job's order."""
    fs = Emrfs(run.bucket, run.before | run.image_keys | {run.manifest})
    written = run.after - run.before
    own = f"/run_id={run.run_id}/"

    def step(name: str) -> Emrfs:
        fs.step = name
        return fs

    if run.weights:
        bucket, key = run.weights.removeprefix("s3://").split("/", 1)
        weights = Emrfs(bucket, frozenset({key}), "weights copy")
        weights.open(key)
        fs.calls += weights.calls
    snapshots = sorted(k for k in run.after if k.startswith(f"{run.output}/models/_snapshots/"))
    for pointer in snapshots:
        step("carried_sums.load").get_file_status(pointer, is_file=True)
    for key in sorted(k for k in run.before if k.startswith(f"{run.output}/models/")):
        step("carried_sums.load").open(key)
    step("list_images").read_tree(run.images, run.image_keys)
    step("list_images").open(run.manifest)
    features = f"{run.output}/features"
    step("cached_rows").get_file_status(features)
    cached = [k for k in run.before if k.startswith(features + "/")]
    if cached:
        step("cached_rows").read_tree(features, cached)
    for artifact in sorted(k for k in run.after if k.startswith(f"{run.output}/_artifacts/")):
        step("artifact.ship").get_file_status(artifact, is_file=True)
        if artifact in written:
            step("artifact.ship").copy_from_local(artifact)
    folders = sorted({k.rsplit("/", 1)[0] for k in written if k.endswith("/" + SUCCESS)})
    for folder in folders:
        mode = "append" if folder.startswith(features + "/") else "overwrite"
        files = [k for k in written if k.startswith(folder + "/")]
        step(f"{mode} {folder}").write_dataset(folder, files, overwrite=mode == "overwrite")
    singles = [k for k in written if own in k or "/models/_snapshots/" in k]
    for key in sorted(k for k in singles if not any(k.startswith(f + "/") for f in folders)):
        step("single-file write").copy_from_local(key)
    log = f"logs/applications/{run.application_id}/jobs/{run.job_run_id}"
    for name in ("SPARK_DRIVER/stdout.gz", "SPARK_DRIVER/stderr.gz", "SPARK_EXECUTOR/1/stderr.gz"):
        step("EMR Serverless log upload").s3("PutObject", Key=f"{log}/{name}")
    return fs.calls


def example_runs(bucket: str, images: str, output: str) -> list[JobRun]:
    """A first run and the incremental run after it, laid out as the job writes (report.run_outputs,
    carried_sums.save, artifact.ship): for checks that run no Spark. The slow flow test uses a real run's
    keys."""
    image_keys = frozenset({f"{images}/Apple/1.jpg", f"{images}/Apple/2.jpg", f"{images}/Pear/1.jpg"})
    model = "mobilenet_v2-96px-random-seed1-tflite"
    shared = {f"{output}/_artifacts/{model}.tflite", f"{output}/_artifacts/{model}.tflite.json"}
    runs, before = [], frozenset[str]()
    for run_id in ("run-1", "run-2"):
        run = f"run_id={run_id}"
        written = {
            *(
                f"{output}/{d}/{run}/{f}"
                for d in ("pca", "rejects", "features")
                for f in (SUCCESS, "part-0.parquet")
            ),
            *(f"{output}/runs/{run}/{f}" for f in ("report.json", "scree.png", "report.html")),
            *(f"{output}/models/{run}/{f}" for f in ("model.json", "pca.npz", "snapshot_sums.npz")),
            f"{output}/models/_snapshots/{model}.json",
        }
        after = before | written | shared
        manifest = f"manifests/{run_id}.txt"
        runs.append(JobRun(bucket, images, output, run_id, manifest, image_keys, before, frozenset(after)))
        before = frozenset(after)
    return runs
