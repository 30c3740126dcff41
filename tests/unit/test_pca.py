"""Scale + PCA against an independent numpy computation (SVD of the standardized matrix)."""

from __future__ import annotations

import numpy as np
import pytest

from orchard_contract.tables import FEATURE_DIM, spark_schema
from orchard_job import pca
from orchard_job.sums import Sums, SumsParam, sum_rows


def structured(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.geomspace(5.0, 0.01, 40)
    latent = rng.normal(size=(rows, 40)) * scales
    mixing = rng.normal(size=(40, FEATURE_DIM))
    x = np.abs(latent @ mixing * 0.05 + rng.normal(0.4, 0.02, size=(rows, FEATURE_DIM)))
    x[:, 7] = 0.25  # a constant feature: its scaled value is 0, as in Spark ML
    return x.astype(np.float32)


def reference(x: np.ndarray, variance: float) -> tuple[np.ndarray, int, np.ndarray]:
    """Explained variance ratios, k, and scores from the SVD of the standardized data."""
    x = x.astype(np.float64)
    std = x.std(axis=0, ddof=1)
    z = np.divide(x - x.mean(axis=0), std, out=np.zeros_like(x), where=std > 1e-9)
    _, singular, vt = np.linalg.svd(z, full_matrices=False)
    ratios = singular**2 / (singular**2).sum()
    k = int(np.argmax(np.cumsum(ratios) >= variance) + 1)
    return ratios, k, z @ vt[:k].T


def fit_numpy(x: np.ndarray, variance: float = 0.9, k: int | None = None) -> pca.PcaModel:
    return pca.fit(Sums.of(x), variance, k)


def assert_equal_up_to_sign(ours: np.ndarray, theirs: np.ndarray) -> None:
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours, theirs * signs, atol=2e-4 * np.abs(theirs).max())


def test_explained_variance_and_k_match_numpy() -> None:
    x = structured(600)
    ratios, k, _ = reference(x, 0.9)
    model = fit_numpy(x, 0.9)
    assert model.k == k
    np.testing.assert_allclose(model.explained_variance, ratios[:k], rtol=1e-6, atol=1e-10)
    assert np.cumsum(model.explained_variance)[-1] >= 0.9 > np.cumsum(model.explained_variance)[-2]


def test_projections_equal_numpy_up_to_sign() -> None:
    x = structured(600)
    _, _, scores = reference(x, 0.9)
    assert_equal_up_to_sign(fit_numpy(x, 0.9).transform(x.astype(np.float64)), scores)


def test_components_have_a_fixed_sign() -> None:
    model = fit_numpy(structured(300), 0.8)
    largest = model.components[np.argmax(np.abs(model.components), axis=0), np.arange(model.k)]
    assert (largest > 0).all()


def test_fixed_k_is_capped_by_the_non_zero_components() -> None:
    x = structured(30)
    assert fit_numpy(x, k=5).k == 5
    assert fit_numpy(x, k=5000).k == 29  # 30 rows -> at most 29 non-zero components


def test_constant_feature_scales_to_zero() -> None:
    model = fit_numpy(structured(200), 0.9)
    assert model.std[7] == 0.0
    assert np.allclose(model.components[7], 0.0)


def test_identical_images_have_one_component_explaining_nothing() -> None:
    """One photo under several keys: no variance at all, still a finite model (validate refuses NaN)."""
    x = np.repeat(structured(2)[:1], 3, axis=0)
    model = pca.fit(Sums.of(x), 0.9, None)
    assert (model.k, model.n_rows) == (1, 3)
    assert model.explained_variance.tolist() == [0.0] and np.isfinite(model.all_explained_variance).all()
    assert not model.transform(x.astype(np.float64)).any()


@pytest.mark.parametrize("rows", [0, 1])
@pytest.mark.parametrize("k", [None, 3])
def test_fewer_than_two_images_have_no_components(rows: int, k: int | None) -> None:
    x = structured(2)[:rows]
    model = pca.fit(Sums.of(x), 0.9, k)
    assert (model.k, model.n_rows) == (0, rows)
    assert model.components.shape == (FEATURE_DIM, 0)
    assert len(model.explained_variance) == len(model.all_explained_variance) == 0
    np.testing.assert_allclose(model.mean, x[0] if rows else np.zeros(FEATURE_DIM), rtol=1e-6)
    assert not model.std.any()  # the sample std of one row is undefined: 0, as for a constant feature
    assert model.transform(x.astype(np.float64)).shape == (rows, 0)  # each image's vector is empty


def test_an_empty_projection_keeps_its_columns(spark) -> None:
    empty = spark.createDataFrame([], spark_schema(pca.FEATURE_ROWS))
    projected = pca.project(empty, pca.fit(Sums.empty(), 0.9, None))
    assert projected.collect() == [] and projected.dtypes == list(pca.PROJECTED)


def test_distributed_fit_and_projection_equal_numpy(spark) -> None:
    x = structured(700, seed=4)
    rows = [(f"s3://b/images/L{i % 3}/{i}.jpg", f"L{i % 3}", row.tolist()) for i, row in enumerate(x)]
    frame = spark.createDataFrame(rows, "path string, label string, features array<float>").repartition(3)
    model = pca.fit(sum_rows(frame), 0.9, None)
    ratios, k, scores = reference(x, 0.9)
    assert model.k == k and model.n_rows == 700
    np.testing.assert_allclose(model.explained_variance, ratios[:k], rtol=1e-5, atol=1e-9)
    projected = {row.path: row.pca for row in pca.project(frame, model).collect()}
    ours = np.array([projected[path] for path, _, _ in rows])
    assert_equal_up_to_sign(ours, scores)


def test_a_partition_reported_twice_is_added_once() -> None:
    x = structured(50)
    param = SumsParam()
    first = Sums(
        frozenset([0]), 30, x[:30].sum(axis=0, dtype=np.float64), x[:30].T.astype(np.float64) @ x[:30]
    )
    second = Sums(
        frozenset([1]), 20, x[30:].sum(axis=0, dtype=np.float64), x[30:].T.astype(np.float64) @ x[30:]
    )
    total = param.zero(first)
    for update in (first, second, first):  # the last: a retried or speculative task of partition 0
        total = param.addInPlace(total, update)
    assert total.partitions == {0, 1} and total.n == 50
    np.testing.assert_allclose(total.gram, x.T.astype(np.float64) @ x, rtol=1e-5)
