"""Row-level checks on the pca and rejects files the job wrote, read back from the run's folders: validate
reads only their footers, so what needs every row (a path twice, a path in both tables, a vector's values) is
checked here, where the data already is. A failure fails the job, so the run is never published."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.output_checks import OUTPUT_VIOLATIONS
from orchard_contract.tables import PCA_COLUMNS, REJECTS_COLUMNS, spark_schema


class OutputCheckError(RuntimeError):
    """The written outputs break the contract; the message names each broken rule with its row count."""


def flag(condition: Column) -> Column:
    """1 where the condition holds, else 0 (a null condition counts as not holding)."""
    return F.when(condition, 1).otherwise(0)


def written_rows(pca: DataFrame, rejects: DataFrame, k: int) -> DataFrame:
    """One row per written row: its path, its table, and for a pca row whether its vector breaks a rule."""
    vector = F.col("pca")
    non_finite = F.exists(vector, lambda x: x.isNull() | F.isnan(x) | (F.abs(x) == F.lit(float("inf"))))
    in_pca = pca.select(
        "path",
        F.lit(1).alias("in_pca"),
        F.lit(0).alias("in_rejects"),
        flag(vector.isNull() | (F.size(vector) != F.lit(k))).alias("wrong_length"),
        flag(non_finite).alias("non_finite"),
    )
    in_rejects = rejects.select(
        "path", F.lit(0).alias("in_pca"), F.lit(1).alias("in_rejects"), F.lit(0).alias("wrong_length"),
        F.lit(0).alias("non_finite"),
    )  # fmt: skip
    return in_pca.unionByName(in_rejects)


def per_path(rows: DataFrame) -> DataFrame:
    """How often each path is in each table (the one shuffle of the checks), with its vectors' flags."""
    return rows.groupBy("path").agg(
        *(F.sum(c).alias(c) for c in ("in_pca", "in_rejects", "wrong_length", "non_finite"))
    )


def totals(paths: DataFrame) -> dict[str, int]:
    named, in_pca, in_rejects = F.col("path").isNotNull(), F.col("in_pca"), F.col("in_rejects")
    row = paths.agg(
        F.sum(in_pca).alias("pca_rows"),
        F.sum(in_rejects).alias("rejects_rows"),
        F.sum(F.when(~named, in_pca + in_rejects).otherwise(0)).alias("null_paths"),
        F.sum(F.when(named & (in_pca > 1), in_pca - 1).otherwise(0)).alias("duplicate_paths_in_pca"),
        F.sum(F.when(named & (in_rejects > 1), in_rejects - 1).otherwise(0)).alias(
            "duplicate_paths_in_rejects"
        ),
        F.sum(flag(named & (in_pca > 0) & (in_rejects > 0))).alias("paths_in_pca_and_rejects"),
        F.sum("wrong_length").alias("vectors_not_of_length_k"),
        F.sum("non_finite").alias("vectors_with_non_finite_values"),
    ).first()
    assert row is not None  # a global aggregate has one row
    return {name: int(value or 0) for name, value in row.asDict().items()}  # no row at all sums to null


def check_outputs(spark: SparkSession, pca_uri: str, rejects_uri: str, k: int) -> dict[str, int]:
    """Each rule's violation count (all 0) and the rows counted, for the report; raises when one is broken."""
    # Read with the contract's schema: a table of no rows may be a folder holding no part file.
    pca = spark.read.schema(spark_schema(PCA_COLUMNS)).parquet(pca_uri)
    rejects = spark.read.schema(spark_schema(REJECTS_COLUMNS)).parquet(rejects_uri)
    results = {**totals(per_path(written_rows(pca, rejects, k))), "k": k}
    broken = [f"{name}: {results[name]}" for name in OUTPUT_VIOLATIONS if results[name]]
    if broken:
        raise OutputCheckError(
            f"the written pca/rejects break the contract, not published: {'; '.join(broken)}"
        )
    return results
