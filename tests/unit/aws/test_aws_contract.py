"""The job's output schema is written down once per deployed function; they must agree with each other.

validate and catalog are packaged separately (one folder per Lambda), so each carries the columns it checks
or catalogs; the end-to-end tests check them against the Parquet the real job writes.
"""

from __future__ import annotations

import pytest

from functions.catalog import app as catalog
from functions.validate import app as validate


@pytest.mark.parametrize("name", ["PCA_COLUMNS", "REJECTS_COLUMNS", "FEATURES_COLUMNS"])
def test_validate_and_catalog_share_the_job_contract(name: str) -> None:
    assert getattr(validate, name) == getattr(catalog, name)


def test_published_snapshot_columns() -> None:
    assert validate.PCA_COLUMNS == (("path", "string"), ("label", "string"), ("pca", "array<float>"))
