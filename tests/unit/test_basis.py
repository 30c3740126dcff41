"""The basis policy on numbers: what a basis explains now (against an independent computation), and when
auto, always and never keep or refit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from orchard_contract.tables import FEATURE_DIM
from orchard_job import basis, pca
from orchard_job.artifact import NetworkArtifact
from orchard_job.basis import Basis
from orchard_job.config import JobConfig
from orchard_job.network import WeightsSpec
from orchard_job.sums import Sums

NETWORK = "mobilenet_v2-96px-random-tflite"
CONFIG = JobConfig(output="/tmp/out", run_id="r2", weights=WeightsSpec.parse("random"), input="/tmp/in")


def rows(n: int, seed: int, directions: int = 6, shift: float = 0.0) -> np.ndarray:
    """n feature rows spread along a few directions (a low-rank cloud), like image features."""
    rng = np.random.default_rng(seed)
    basis_vectors = np.random.default_rng(0).normal(size=(directions, FEATURE_DIM))
    x = rng.normal(size=(n, directions)) * np.linspace(5, 1, directions) @ basis_vectors
    return x + rng.normal(scale=0.05, size=(n, FEATURE_DIM)) + shift


def fitted(x: np.ndarray, config: JobConfig = CONFIG, run_id: str = "r1") -> Basis:
    target = None if config.k is not None else config.variance
    return Basis(run_id, pca.fit(Sums.of(x), config.variance, config.k), NETWORK, target, config.k)


def independent_explained(model: pca.PcaModel, x: np.ndarray) -> float:
    """Rows scaled with the model's mean and std; the share of their squared norm its components keep."""
    z = np.divide(x - model.mean, model.std, out=np.zeros_like(x), where=model.std > 0)
    return float(((z @ model.components) ** 2).sum() / (z**2).sum())


def test_what_a_basis_explains_now_matches_an_independent_computation() -> None:
    first, later = rows(300, 1), np.vstack([rows(300, 1), rows(100, 2, directions=9, shift=0.3)])
    old = fitted(first)

    assert basis.explained_by(old.model, Sums.of(first)) == pytest.approx(old.explained_at_fit, abs=1e-9)
    assert basis.explained_by(old.model, Sums.of(later)) == pytest.approx(
        independent_explained(old.model, later), rel=1e-9
    )


def test_auto_keeps_a_basis_that_still_explains_enough() -> None:
    old = fitted(rows(300, 1))
    choice = basis.choose(CONFIG, NETWORK, old, Sums.of(np.vstack([rows(300, 1), rows(5, 3)])))

    assert choice.kept and choice.basis is old and choice.explained_now >= CONFIG.variance - 0.01
    assert choice.describe(CONFIG)["decision"] == "kept" and "explains" in choice.reason


def test_auto_refits_on_drift_and_never_does_not() -> None:
    old = fitted(rows(300, 1))
    drifted = Sums.of(
        np.vstack([rows(300, 1), rows(300, 4, shift=2.0) @ np.diag(np.linspace(0.1, 3, FEATURE_DIM))])
    )

    refit = basis.choose(CONFIG, NETWORK, old, drifted)
    assert not refit.kept and refit.basis.basis_id == "r2" and refit.reason.startswith("drift")
    assert refit.explained_now >= CONFIG.variance  # the new basis reaches the target on the current rows

    kept = basis.choose(replace(CONFIG, basis="never"), NETWORK, old, drifted)
    assert kept.kept and kept.basis is old and kept.explained_now < CONFIG.variance - 0.01


def test_a_fixed_k_keeps_while_the_loss_since_the_fit_is_within_the_tolerance() -> None:
    config = replace(CONFIG, k=3, variance=0.95)
    old = fitted(rows(300, 1), config)
    assert basis.choose(config, NETWORK, old, Sums.of(np.vstack([rows(300, 1), rows(3, 5)]))).kept
    lossy = Sums.of(np.vstack([rows(300, 1), rows(200, 6, directions=12, shift=1.0)]))
    assert not basis.choose(config, NETWORK, old, lossy).kept


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"basis": "always"}, "--basis always"),
        ({"k": 4}, "the k setting changed (--variance 0.95 -> --k 4)"),
        ({"variance": 0.9}, "the k setting changed (--variance 0.95 -> --variance 0.9)"),
    ],
)
def test_a_setting_change_refits(change: dict, reason: str) -> None:
    old = fitted(rows(300, 1))
    choice = basis.choose(replace(CONFIG, **change), NETWORK, old, Sums.of(rows(300, 1)))
    assert not choice.kept and choice.reason == reason


def test_another_network_or_no_basis_refits() -> None:
    old = fitted(rows(300, 1))
    assert basis.choose(
        CONFIG, "mobilenet_v2-224px-random-tflite", old, Sums.of(rows(300, 1))
    ).reason.startswith("the network changed")
    assert basis.choose(CONFIG, NETWORK, None, Sums.of(rows(300, 1))).reason.startswith("no basis")


@pytest.mark.parametrize("k", [None, 3])
def test_a_basis_round_trips_through_its_model_files(spark, tmp_path, k: int | None) -> None:
    config = replace(CONFIG, k=k)
    old = fitted(rows(300, 1), config)
    folder = tmp_path / "models" / "run_id=r1"
    folder.mkdir(parents=True)
    network = NetworkArtifact(NETWORK, {"id": "random"}, 96, "tflite", NETWORK + ".tflite")
    for name, data in basis.model_files(old, network).items():
        (folder / name).write_bytes(data)

    loaded = basis.load(spark, str(tmp_path), "r1")
    assert loaded is not None
    assert (loaded.basis_id, loaded.model_id, loaded.variance_target, loaded.k_requested) == (
        "r1", NETWORK, None if k else 0.95, k,
    )  # fmt: skip
    for field in ("mean", "std", "components", "explained_variance", "all_explained_variance"):
        np.testing.assert_array_equal(getattr(loaded.model, field), getattr(old.model, field))
    assert loaded.model.n_rows == 300
    (folder / "pca.npz").write_bytes(b"not an npz")
    assert basis.load(spark, str(tmp_path), "r1") is None
