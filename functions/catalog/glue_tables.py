"""The Glue side of the catalog: each table of the contract as a Glue TableInput, created or updated
idempotently.

Every table is EXTERNAL over the results root (``s3://bucket/prefix``); a partition is one run's folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import boto3

from orchard_contract.layout import S3Uri, run_path
from orchard_contract.tables import RUN_PARTITION, TableSpec

PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
JSON_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}
STORAGE_FORMATS = {"parquet": PARQUET_FORMAT, "json": JSON_FORMAT}
MAX_PARTITIONS_PER_CALL = 100  # BatchCreatePartition's limit
MAX_PARTITIONS_PER_DELETE = 25  # BatchDeletePartition's limit


def location(root: S3Uri, dataset: str, run_id: str | None = None) -> str:
    """The folder of a dataset, or of one run's partition of it, as a Glue location (with a trailing /)."""
    folder = run_path(str(root), dataset, run_id) if run_id else f"{str(root).rstrip('/')}/{dataset}"
    return f"{folder}/"


def table_input(spec: TableSpec, at: str, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "Description": spec.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "classification": spec.classification, **(parameters or {})},
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in RUN_PARTITION] if spec.partitioned else [],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in spec.columns],
            "Location": at,
            **STORAGE_FORMATS[spec.classification],
        },
    }


class Catalog:
    def __init__(self, database: str, session: boto3.Session) -> None:
        self.database = database
        self.glue = session.client("glue")

    def get_table(self, name: str) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = self.glue.get_table(DatabaseName=self.database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None
        return table

    def put_table(self, wanted: dict[str, Any]) -> None:
        """Create the table, or update it when its definition differs (UpdateTable swaps it in one call)."""
        current = self.get_table(wanted["Name"])
        if current is None:
            try:
                self.glue.create_table(DatabaseName=self.database, TableInput=wanted)
                return
            except self.glue.exceptions.AlreadyExistsException:
                # A concurrent run created it first; fall through to compare and update.
                current = self.get_table(wanted["Name"])
        if current is None or not same_definition(current, wanted):
            self.glue.update_table(DatabaseName=self.database, TableInput=wanted)

    def add_partitions(self, spec: TableSpec, root: S3Uri, run_ids: list[str]) -> None:
        """Add ``run_id=<id>`` for each run; an existing partition (a retried publish) is fine."""
        for start in range(0, len(run_ids), MAX_PARTITIONS_PER_CALL):
            batch = run_ids[start : start + MAX_PARTITIONS_PER_CALL]
            partitions = [
                {
                    "Values": [run_id],
                    "StorageDescriptor": table_input(spec, location(root, spec.dataset, run_id))[
                        "StorageDescriptor"
                    ],
                }
                for run_id in batch
            ]
            response = self.glue.batch_create_partition(
                DatabaseName=self.database, TableName=spec.name, PartitionInputList=partitions
            )
            errors = [
                e
                for e in response.get("Errors", [])
                if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
            ]
            if errors:
                raise RuntimeError(f"could not add partitions {batch} to {spec.name}: {errors}")

    def partition_runs(self, spec: TableSpec) -> set[str]:
        """The run ids of the table's partitions (none when the table does not exist yet)."""
        pages = self.glue.get_paginator("get_partitions").paginate(
            DatabaseName=self.database, TableName=spec.name
        )
        try:
            return {p["Values"][0] for page in pages for p in page["Partitions"]}
        except self.glue.exceptions.EntityNotFoundException:
            return set()

    def delete_partitions(self, spec: TableSpec, run_ids: list[str]) -> None:
        """Drop ``run_id=<id>`` for each run; one already gone (a retried retirement) is fine."""
        for start in range(0, len(run_ids), MAX_PARTITIONS_PER_DELETE):
            batch = run_ids[start : start + MAX_PARTITIONS_PER_DELETE]
            response = self.glue.batch_delete_partition(
                DatabaseName=self.database,
                TableName=spec.name,
                PartitionsToDelete=[{"Values": [run_id]} for run_id in batch],
            )
            errors = [
                e
                for e in response.get("Errors", [])
                if e["ErrorDetail"]["ErrorCode"] != "EntityNotFoundException"
            ]
            if errors:
                raise RuntimeError(f"could not drop partitions {batch} from {spec.name}: {errors}")

    def delete_table(self, name: str) -> None:
        with contextlib.suppress(self.glue.exceptions.EntityNotFoundException):
            self.glue.delete_table(DatabaseName=self.database, Name=name)


def same_definition(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    descriptor = current.get("StorageDescriptor", {})
    return (
        [(c["Name"], c["Type"]) for c in descriptor.get("Columns", [])]
        == [(c["Name"], c["Type"]) for c in wanted["StorageDescriptor"]["Columns"]]
        and [(c["Name"], c["Type"]) for c in current.get("PartitionKeys", [])]
        == [(c["Name"], c["Type"]) for c in wanted["PartitionKeys"]]
        and descriptor.get("Location") == wanted["StorageDescriptor"]["Location"]
        and descriptor.get("SerdeInfo", {}).get("SerializationLibrary")
        == wanted["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
        and all(current.get("Parameters", {}).get(k) == v for k, v in wanted["Parameters"].items())
    )
