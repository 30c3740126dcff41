"""The run page (runs/run_id=<id>/report.html), from what the run wrote: its pca and rejects Parquet read
back on the driver, a seeded sample of its accepted images' bytes for thumbnails (rejects are never decoded
again), the scree plot. At 90,000 images and 131 labels the page stays well under 2 MB: thumbnails are
capped in total, the scatter is sampled, the rejects listed are bounded (totals by reason cover the rest).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from orchard_job import storage
from orchard_job.contents import files_at, hidden_to_spark, read_on_driver
from orchard_job.run_page_figures import data_uri, scatter_png, thumbnail_jpeg
from orchard_job.run_page_html import PageData, RejectSummary, Thumbnail, render
from orchard_job.run_page_knn import SEED, label_agreement

THUMBNAILS_PER_LABEL = 3
MAX_THUMBNAILS = 300  # in total: 131 labels get 2 each
REJECTS_LISTED = 100


def write_run_page(spark: SparkSession, report: dict[str, Any], scree: bytes) -> float:
    """Build and write the page next to report.json; returns the seconds it took."""
    start = time.perf_counter()
    outputs, root = report["outputs"], report["inputs"].get("input")
    paths, labels, vectors = pca_rows(spark, outputs["pca"])
    agreement = label_agreement(vectors, labels)
    page = PageData(
        report=report,
        images_by_label=dict(Counter(labels.tolist())),
        rejects=reject_summary(spark.read.parquet(outputs["rejects"]), root),
        thumbnails=thumbnails(spark, sample_per_label(paths, labels), root),
        scree_uri=data_uri(scree, "image/png"),
        scatter_uri=scatter_uri(vectors, labels),
        agreement=agreement,
    )
    storage.write_bytes(spark, outputs["page"], render(page).encode("utf-8"))
    return time.perf_counter() - start


def scatter_uri(vectors: np.ndarray, labels: np.ndarray) -> str | None:
    """PC1 x PC2 as a data: URI; None with fewer than two components."""
    return data_uri(scatter_png(vectors, labels, SEED), "image/png") if vectors.shape[1] > 1 else None


def pca_rows(spark: SparkSession, uri: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(paths, labels, vectors) of every published row, ordered by path (the samples do not depend on the
    Parquet's row order)."""
    frame: Any = spark.read.parquet(uri).select("path", "label", "pca").toPandas()
    frame = frame.sort_values("path")
    paths = frame["path"].to_numpy(dtype=object)
    labels = frame["label"].fillna("").to_numpy(dtype=object)
    width = len(frame["pca"].iloc[0]) if len(frame) else 0
    vectors = np.stack(frame["pca"].to_list()).astype(np.float32) if len(frame) else np.zeros((0, 0))
    return paths, labels, vectors.reshape(len(frame), width)


def reject_summary(rejects: DataFrame, root: str | None) -> RejectSummary:
    """Totals by reason and by label, and the first REJECTS_LISTED by path. One collect: a run's rejects are
    text, few next to its images (three Spark aggregations cost seconds more)."""
    frame: Any = rejects.select("path", "label", "reason").toPandas()
    frame = frame.fillna({"label": ""}).sort_values("path")
    by_reason = frame["reason"].value_counts()
    ordered = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    listed = frame.head(REJECTS_LISTED).itertuples(index=False)
    return RejectSummary(
        total=len(frame),
        by_reason=[(str(reason), int(count)) for reason, count in ordered],
        by_label={str(label): int(count) for label, count in frame["label"].value_counts().items()},
        listed=[(relative(row.path, root), row.label, row.reason) for row in listed],
    )


def sample_per_label(paths: np.ndarray, labels: np.ndarray) -> dict[str, list[str]]:
    """A seeded sample of each label's paths, the same few per label, MAX_THUMBNAILS at most in all."""
    names = sorted(set(labels.tolist()))
    each = min(THUMBNAILS_PER_LABEL, MAX_THUMBNAILS // max(1, len(names)))
    rng = np.random.default_rng(SEED)
    chosen = {}
    for name in names[: MAX_THUMBNAILS if each == 0 else len(names)]:
        mine = paths[labels == name]
        picked = rng.choice(len(mine), size=min(max(each, 1), len(mine)), replace=False)
        chosen[name] = [str(mine[i]) for i in sorted(picked)]
    return chosen


def thumbnails(
    spark: SparkSession, chosen: dict[str, list[str]], root: str | None
) -> dict[str, list[Thumbnail]]:
    """The chosen files' bytes through the job's read paths (binaryFile by name, the driver for names Spark
    hides), made into thumbnails on the driver."""
    wanted = [path for paths in chosen.values() for path in paths]
    by_name = [path for path in wanted if not hidden_to_spark(path.rsplit("/", 1)[-1])]
    hidden = [path for path in wanted if hidden_to_spark(path.rsplit("/", 1)[-1])]
    contents = {}
    if by_name:
        contents.update({row["path"]: bytes(row["content"]) for row in files_at(spark, by_name).collect()})
    if hidden:
        contents.update(
            {row["path"]: bytes(row["content"]) for row in read_on_driver(spark, hidden).collect()}
        )
    shown = {}
    for label, paths in chosen.items():
        made = [(path, thumbnail_jpeg(contents[path]) if path in contents else None) for path in paths]
        shown[label] = [
            Thumbnail(relative(path, root), None if jpeg is None else data_uri(jpeg, "image/jpeg"))
            for path, jpeg in made
        ]
    return shown


def relative(path: str, root: str | None) -> str:
    """The path below the input folder (<label>/<name>), the same locally and on AWS; else the whole path."""
    if root:
        prefix = storage.normalize(root).rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path
