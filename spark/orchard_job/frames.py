"""DataFrames in the contract's shapes: driver-side rows as a frame, and a frame as a table's columns."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType, _parse_datatype_string

from orchard_contract.tables import Columns


def names(columns: Columns) -> list[str]:
    return [name for name, _ in columns]


def subset(columns: Columns, *wanted: str) -> Columns:
    """The named columns with the contract's types, in the order named (a name it lacks is a KeyError)."""
    types = dict(columns)
    return tuple((name, types[name]) for name in wanted)


def conform(df: DataFrame, columns: Columns) -> DataFrame:
    """Exactly the table's columns, in its order and of its types: a column it names that `df` lacks fails."""
    return df.select(*(F.col(name).cast(kind).alias(name) for name, kind in columns))


def local_frame(spark: SparkSession, rows: list[tuple[Any, ...]], schema: str) -> DataFrame:
    """A DataFrame from driver-side rows, sent to the JVM as Arrow (no Python job to unpickle rows)."""
    struct = _parse_datatype_string(schema)
    assert isinstance(struct, StructType), schema
    return spark.createDataFrame(pd.DataFrame.from_records(rows, columns=struct.names), struct)
