"""StandardScaler + PCA from the sums over the feature rows (sums.Sums) and a small driver-side eigh.

The driver forms the covariance from (n, sum x, sum x x^T), standardizes it to the correlation matrix (sample
std, ddof=1, as Spark ML's StandardScaler) and takes its eigen-decomposition. This equals
StandardScaler(withMean, withStd) followed by PCA, with features read once per pass and never recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark import Accumulator
from pyspark.sql import DataFrame

from orchard_contract.tables import FEATURES_COLUMNS, PCA_COLUMNS, spark_schema
from orchard_job.frames import names, subset
from orchard_job.sums import ARROW_BATCH_ROWS, Sums, vectors

# What the projection reads, and what it computes; the published table may hold more columns (the job fills
# and orders them).
FEATURE_ROWS = subset(FEATURES_COLUMNS, "path", "label", "features")
PROJECTED = subset(PCA_COLUMNS, "path", "label", "pca")


@dataclass(frozen=True)
class PcaModel:
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,) sample std; 0 for constant features (their scaled value is 0, as Spark ML)
    components: np.ndarray  # (d, k), unit columns, sign fixed so each column's largest |entry| is > 0
    explained_variance: np.ndarray  # (k,) ratio of total variance per kept component
    all_explained_variance: np.ndarray  # (d,) every component's ratio, for the scree plot
    n_rows: int

    @property
    def k(self) -> int:
        return int(self.components.shape[1])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """((x - mean) / std) @ components, computed as x @ W - c: one matrix product over the rows."""
        inverse_std = np.divide(1.0, self.std, out=np.zeros_like(self.std), where=self.std > 0)
        weights = self.components * inverse_std[:, None]
        return features @ weights - (self.mean * inverse_std) @ self.components


def fit(sums: Sums, variance: float, k: int | None) -> PcaModel:
    """Scale + PCA of the rows the sums cover; k reaches `variance` of the variance, or is the given k."""
    count = sums.n
    if count < 2:
        return no_components(sums)
    mean = sums.total / count
    covariance = (sums.gram - count * np.outer(mean, mean)) / (count - 1)
    std = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    std[std < 1e-12 * max(float(std.max()), 1e-30)] = 0.0
    inverse_std = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    correlation = covariance * np.outer(inverse_std, inverse_std)
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    eigenvectors = eigenvectors[:, order]
    total = eigenvalues.sum()  # 0 when every row is the same (one photo under several keys)
    ratios = eigenvalues / total if total > 0 else np.zeros_like(eigenvalues)
    rank_bound = min(count - 1, int(np.count_nonzero(std)))  # beyond it, eigenvalues are rounding noise
    keep = min(choose_k(ratios, variance, k), max(rank_bound, 1))
    components = eigenvectors[:, :keep]
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(keep)])
    return PcaModel(mean, std, components * signs, ratios[:keep], ratios, count)


def no_components(sums: Sums) -> PcaModel:
    """The model of fewer than two rows: no variance to explain, so k = 0 and every row projects to [].

    Publishing it (rather than failing) lets deletions leave the snapshot even when at most one image is left.
    The sample std is undefined for one row: 0, as for a constant feature.
    """
    dim = len(sums.total)
    mean = sums.total / sums.n if sums.n else np.zeros(dim)
    none = np.zeros(0)
    return PcaModel(mean, np.zeros(dim), np.zeros((dim, 0)), none, none, sums.n)


def choose_k(ratios: np.ndarray, variance: float, k: int | None) -> int:
    """Smallest k whose cumulative explained variance reaches `variance`, or the given k."""
    if k is not None:
        return min(k, len(ratios))
    cumulative = np.cumsum(ratios)
    return min(int(np.searchsorted(cumulative, variance - 1e-12) + 1), len(ratios))


def project(features: DataFrame, model: PcaModel, projected: Accumulator[int] | None = None) -> DataFrame:
    """path, label, pca (k values) for every row of `features`; counts them into `projected`."""
    features.sparkSession.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", ARROW_BATCH_ROWS)

    def run(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            scores = model.transform(vectors(batch, "features").astype(np.float64)).astype(np.float32)
            offsets = pa.array(np.arange(len(scores) + 1, dtype=np.int32) * scores.shape[1])
            pca = pa.ListArray.from_arrays(offsets, pa.array(scores.reshape(-1)))
            if projected is not None:
                projected.add(len(scores))
            yield pa.RecordBatch.from_arrays(
                [batch.column("path"), batch.column("label"), pca], names=names(PROJECTED)
            )

    return features.select(*names(FEATURE_ROWS)).mapInArrow(run, spark_schema(PROJECTED))
