"""The PCA basis a run publishes in (--basis auto|always|never): the previous run's, kept, or refit.

A basis is a fitted scaler + PCA (pca.PcaModel) and the id of the run that fitted it (`basis_id`, in every
`pca` row). The basis carried is the one of the run whose carried sums this run starts from (the last run
that finished the job: normally the published one). `auto` keeps it while, over all current images, it still
explains the variance target minus the tolerance (with a fixed --k: while it has lost less than the tolerance
since its fit); it refits when that fails or when the k setting changes (another network has no basis: its
features are another space). `always` refits every run; `never` keeps the basis until a run says `always`.

The variance a basis explains now is exact, from the sums over the current rows: the rows scaled with the
basis' own mean and std, the share of their total variance (second moment about the basis' mean, so a
shifted mean counts as variance the basis must carry) that its kept components capture. At the fit it equals
the basis' cumulative explained variance. A run that keeps its basis writes that basis' model into its own
models/run_id=<id>/, so everything a run published is self-contained.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from orchard_contract.layout import MODELS_DATASET, run_path
from orchard_job import pca, storage
from orchard_job.artifact import NetworkArtifact
from orchard_job.config import JobConfig
from orchard_job.pca import PcaModel
from orchard_job.sums import Sums

log = logging.getLogger("orchard")

MODEL_JSON, MODEL_ARRAYS = "model.json", "pca.npz"


@dataclass(frozen=True)
class Basis:
    basis_id: str  # the run that fitted it
    model: PcaModel  # as fitted: n_rows is the number of rows it was fitted on
    model_id: str  # the network whose features it scales
    variance_target: float | None  # the k setting it was fitted with: a target, or
    k_requested: int | None  # a fixed k

    @property
    def explained_at_fit(self) -> float:
        return float(self.model.explained_variance.sum())


@dataclass(frozen=True)
class BasisChoice:
    basis: Basis
    kept: bool
    reason: str
    explained_now: float  # of all current rows, by the basis in use

    def describe(self, config: JobConfig) -> dict[str, Any]:
        """The report's account of the basis: which, kept or refit, why, and what it explains."""
        return {
            "basis_id": self.basis.basis_id,
            "decision": "kept" if self.kept else "refit",
            "reason": self.reason,
            "policy": config.basis,
            "tolerance": config.basis_tolerance,
            "explained_now": round(self.explained_now, 8),
            "explained_at_fit": round(self.basis.explained_at_fit, 8),
            "fitted_rows": self.basis.model.n_rows,
        }


def choose(config: JobConfig, network_id: str, previous: Basis | None, sums: Sums) -> BasisChoice:
    """Keep `previous` or fit a new basis on `sums` (the sums over every current row), by the policy."""
    reason = refit_reason(config, network_id, previous, sums)
    if reason is None and previous is not None:
        explained = explained_by(previous.model, sums)
        threshold = floor(config, previous)
        if config.basis == "never" or explained >= threshold - 1e-12:
            why = (
                "--basis never" if config.basis == "never" else f"explains {explained:.2%} >= {threshold:.2%}"
            )
            return BasisChoice(previous, True, f"kept: {why}", explained)
        reason = f"drift: the basis explains {explained:.2%} of the current images, below {threshold:.2%}"
    target = None if config.k is not None else config.variance
    fitted = Basis(config.run_id, pca.fit(sums, config.variance, config.k), network_id, target, config.k)
    return BasisChoice(fitted, False, reason or "refit", fitted.explained_at_fit)


def refit_reason(config: JobConfig, network_id: str, previous: Basis | None, sums: Sums) -> str | None:
    """Why the previous basis cannot or must not be kept; None when the policy decides on its variance."""
    if config.basis == "always":
        return "--basis always"
    if previous is None:
        return "no basis fitted for this network yet (weights, image size and runtime name the network)"
    if previous.model_id != network_id:
        return f"the network changed ({previous.model_id} -> {network_id})"
    if previous.model.k == 0 or sums.n < 2:
        return "fewer than two images, at the fit or now: no basis to keep"
    target = None if config.k is not None else config.variance
    if config.basis == "auto" and (previous.k_requested, previous.variance_target) != (config.k, target):
        was = setting(previous.k_requested, previous.variance_target)
        return f"the k setting changed ({was} -> {setting(config.k, target)})"
    return None


def setting(k: int | None, target: float | None) -> str:
    return f"--k {k}" if k is not None else f"--variance {target}"


def floor(config: JobConfig, basis: Basis) -> float:
    """The least variance a kept basis must explain now."""
    if config.k is not None:
        return basis.explained_at_fit - config.basis_tolerance
    return config.variance - config.basis_tolerance


def explained_by(model: PcaModel, sums: Sums) -> float:
    """Share of the current rows' variance, scaled with the model's mean and std, its components capture."""
    n = sums.n
    if n < 2 or model.k == 0:
        return 0.0
    inverse_std = np.divide(1.0, model.std, out=np.zeros_like(model.std), where=model.std > 0)
    mean = model.mean
    second_moment = (
        sums.gram - np.outer(sums.total, mean) - np.outer(mean, sums.total) + n * np.outer(mean, mean)
    )
    scaled = second_moment * np.outer(inverse_std, inverse_std) / (n - 1)
    total = float(np.trace(scaled))
    captured = float(np.sum((scaled @ model.components) * model.components))
    return captured / total if total > 0 else 0.0


def in_use(choice: BasisChoice, n_rows: int) -> PcaModel:
    """The model the run projects with: the basis', counting this run's rows."""
    return replace(choice.basis.model, n_rows=n_rows)


def model_files(basis: Basis, network: NetworkArtifact) -> dict[str, bytes]:
    """model.json (readable, everything to project a new image) and pca.npz (the same arrays, binary)."""
    model = basis.model
    description = {
        "model_id": network.network_id,
        "basis_id": basis.basis_id,
        "weights": network.weights,
        "image_size": network.image_size,
        "runtime": network.runtime,
        "preprocess": "RGB uint8, EXIF-transposed, bilinear resize to image_size, x / 127.5 - 1",
        "projection": "pca = ((features - mean) / std, 0 where std == 0) @ components",
        "variance_target": basis.variance_target,
        "k_requested": basis.k_requested,
        "n_rows": model.n_rows,
        "k": model.k,
        "explained_variance": model.explained_variance.tolist(),
        "mean": model.mean.tolist(),
        "std": model.std.tolist(),
        "components": model.components.tolist(),
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        mean=model.mean,
        std=model.std,
        components=model.components,
        explained_variance=model.explained_variance,
        all_explained_variance=model.all_explained_variance,
        # What load() needs besides the arrays: the next run reads this file only, not the larger JSON.
        basis_id=np.array(basis.basis_id),
        model_id=np.array(network.network_id),
        variance_target=np.array(np.nan if basis.variance_target is None else basis.variance_target),
        k_requested=np.array(-1 if basis.k_requested is None else basis.k_requested),
        n_rows=np.array(model.n_rows),
    )
    return {MODEL_JSON: json.dumps(description).encode(), MODEL_ARRAYS: buffer.getvalue()}


def load(spark: SparkSession, output: str, run_id: str) -> Basis | None:
    """The basis a run's models/ folder holds; None (and a refit) when it cannot be used."""
    folder = run_path(output, MODELS_DATASET, run_id)
    try:
        arrays = np.load(io.BytesIO(storage.read_bytes(spark, storage.join(folder, MODEL_ARRAYS))))
        names = ("mean", "std", "components", "explained_variance", "all_explained_variance")
        model = PcaModel(*(arrays[name] for name in names), int(arrays["n_rows"]))
        target, k = float(arrays["variance_target"]), int(arrays["k_requested"])
        return Basis(
            str(arrays["basis_id"]),
            model,
            str(arrays["model_id"]),
            None if np.isnan(target) else target,
            None if k < 0 else k,
        )
    except (Py4JJavaError, OSError, ValueError, KeyError, TypeError) as e:  # runs before basis ids: KeyError
        log.warning("the PCA basis of run %s cannot be used (%s): refitting", run_id, e)
        return None
