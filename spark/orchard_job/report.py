"""Run outputs besides the tables: report.json, scree.png, the run page, the basis (models/run_id=<id>/)."""

from __future__ import annotations

import io
import json
import platform
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from orchard_contract.layout import MODELS_DATASET, RUNS_DATASET, SCREE_FILE, report_path, run_path
from orchard_contract.run_page import run_page_path
from orchard_contract.tables import PCA, REJECTS
from orchard_job import storage
from orchard_job.artifact import NetworkArtifact, tensorflow_version
from orchard_job.basis import Basis, model_files
from orchard_job.config import JobConfig
from orchard_job.feature_cache import cache_uri
from orchard_job.pca import PcaModel
from orchard_job.run_page import write_run_page


@dataclass(frozen=True)
class Counts:
    """The report's counts (its keys are the contract's COUNT_KEYS, in their order)."""

    listed: int
    featurized_this_run: int
    reused_from_cache: int
    rejected: int
    in_pca: int

    def check(self) -> None:
        if self.listed != self.in_pca + self.rejected:
            raise RuntimeError(f"count identity broken: listed {self.listed} != in_pca + rejected ({self})")


def run_outputs(config: JobConfig) -> dict[str, str]:
    root, run_id = config.output, config.run_id
    return {
        "features": cache_uri(root),
        "pca": run_path(root, PCA.dataset, run_id),
        "rejects": run_path(root, REJECTS.dataset, run_id),
        "report": report_path(root, run_id),
        "scree": run_path(root, RUNS_DATASET, run_id, SCREE_FILE),
        "page": run_page_path(root, run_id),
        "model": run_path(root, MODELS_DATASET, run_id),
    }


def build_report(
    spark: SparkSession,
    config: JobConfig,
    network: NetworkArtifact,
    model: PcaModel,
    counts: Counts,
    timings: dict[str, float],
) -> dict[str, Any]:
    cumulative = np.cumsum(model.explained_variance)
    return {
        "run_id": config.run_id,
        "status": "succeeded",
        "counts": vars(counts),
        "k": model.k,
        "variance_target": None if config.k is not None else config.variance,
        "k_requested": config.k,
        "explained_variance": [round(float(v), 8) for v in model.explained_variance],
        "cumulative_variance": [round(float(v), 8) for v in cumulative],
        "standardization": "mean 0, sample std (ddof=1); constant features scale to 0",
        "weights": {key: value for key, value in network.weights.items() if key != "path"},
        "model_id": network.network_id,
        "image_size": config.image_size,
        "runtime": config.runtime,
        "runtime_seconds": round(timings["total"], 3),
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
        "versions": {
            "spark": spark.version,
            "tensorflow": tensorflow_version(),
            "python": platform.python_version(),
        },
        "inputs": {"input": config.input, "manifest": config.manifest},
        "outputs": run_outputs(config),
    }


def _import_plotting() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


def prefetch_plotting() -> None:
    """Import matplotlib (slow to import) in the background while Spark works, not when the plot is drawn."""
    threading.Thread(target=_import_plotting, name="import-matplotlib", daemon=True).start()


def scree_png(model: PcaModel, variance_target: float | None) -> bytes:
    _import_plotting()
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=100)
    if model.k:
        plot_scree(axis, model, variance_target)
    else:  # fewer than two images: no variance, no component
        axis.set_axis_off()
        axis.set_title(f"PCA scree: {model.n_rows} image(s), k = 0")
        axis.text(0.5, 0.5, "Nothing to plot: PCA needs at least 2 images.\nEach published vector is empty.",
                  ha="center", va="center", transform=axis.transAxes)  # fmt: skip
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def plot_scree(axis: Any, model: PcaModel, variance_target: float | None) -> None:
    cumulative = np.cumsum(model.all_explained_variance)
    shown = min(len(cumulative), max(2 * model.k, 50))
    axis.plot(
        np.arange(1, shown + 1), cumulative[:shown], color="tab:green", label="cumulative explained variance"
    )
    axis.axvline(model.k, color="tab:red", linestyle="--", label=f"k = {model.k}")
    if variance_target is not None:
        axis.axhline(variance_target, color="grey", linestyle=":", label=f"target {variance_target:.0%}")
    axis.set_xlabel("number of components (k)")
    axis.set_ylabel("cumulative explained variance")
    axis.set_ylim(0, 1.02)
    axis.legend(loc="lower right")
    axis.set_title(f"PCA scree: {model.n_rows} images, k = {model.k} ({cumulative[model.k - 1]:.1%})")


def write_run_files(
    spark: SparkSession, config: JobConfig, report: dict[str, Any], basis: Basis, network: NetworkArtifact
) -> None:
    outputs = run_outputs(config)
    for name, data in model_files(basis, network).items():
        storage.write_bytes(spark, storage.join(outputs["model"], name), data)
    scree = scree_png(basis.model, report["variance_target"])
    storage.write_bytes(spark, outputs["scree"], scree)
    # The run page reads back the tables just written; its seconds are a part of the "report" stage's.
    report["timings"]["run_page"] = round(write_run_page(spark, report, scree), 3)
    storage.write_bytes(spark, outputs["report"], json.dumps(report, indent=2).encode())
