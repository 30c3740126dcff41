"""The row-level checks the job runs on the pca and rejects files it wrote, by the names its report gives them
(report["output_checks"]). The job fails the run unless every violation count is 0; validate, which reads only
Parquet footers, refuses a run whose report does not show each check run and passed."""

from __future__ import annotations

REPORT_KEY = "output_checks"
# Each counts the rows that break one rule.
OUTPUT_VIOLATIONS = (
    "null_paths",
    "duplicate_paths_in_pca",
    "duplicate_paths_in_rejects",
    "paths_in_pca_and_rejects",
    "vectors_not_of_length_k",
    "vectors_with_non_finite_values",  # a null, NaN or infinite value in a vector
)
# What the job counted alongside: validate compares them with the report's counts and the files' footers.
OUTPUT_FIGURES = ("pca_rows", "rejects_rows", "k")
