"""validate reads footers only: a fixed number of bytes and requests per part file, whatever its rows."""

from __future__ import annotations

from collections import Counter

import pytest
from aws_support import BUCKET, RESULTS, contract_table, parquet_bytes

from functions.validate import app as validate
from functions.validate.run_files import TAIL_BYTES
from orchard_contract.layout import S3Uri, run_path
from orchard_contract.tables import PCA_COLUMNS

RUN_ID = "orchard-20250314T092655Z-3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"
K = 20
PARTS = 3


def count_reads(session) -> Counter:
    """Bytes and GETs answered per key, counted by a botocore hook on every client the session makes."""
    reads: Counter = Counter()
    asked: list[str] = []

    def before_get(params, **_) -> None:
        asked.append(params["Key"])

    def after_get(parsed, **_) -> None:
        reads[asked[-1]] += parsed["ContentLength"]
        reads["GETs"] += 1

    session.events.register("provide-client-params.s3.GetObject", before_get)
    session.events.register("after-call.s3.GetObject", after_get)
    return reads


def write_pca_parts(session, run_id: str, rows: int) -> None:
    """`rows` images in pca, spread over PARTS part files as Spark writes them."""
    s3, root = session.client("s3"), S3Uri.parse(RESULTS).key
    per_part = rows // PARTS
    for part in range(PARTS):
        first = part * per_part
        table = contract_table(
            PCA_COLUMNS,
            per_part,
            path=[f"s3://{BUCKET}/images/L/{i}.jpg" for i in range(first, first + per_part)],
            label=["L"] * per_part,
            pca=[[float(i % 97) + j / K for j in range(K)] for i in range(first, first + per_part)],
        )
        key = run_path(root, "pca", run_id, f"part-{part:05d}-c000.snappy.parquet")
        s3.put_object(Bucket=BUCKET, Key=key, Body=parquet_bytes(table))


def pca_reads(session, make_run, write_run, context, rows: int) -> Counter:
    """What validate reads of a run of `rows` images in pca (k = K), one rejected."""
    run = make_run(RUN_ID, images=4, rejected=1, k=4)
    run.report.update(k=K, explained_variance=[0.9 / K] * K, cumulative_variance=[0.9])
    run.report["counts"].update(in_pca=rows, listed=rows + 1)
    run.report["output_checks"].update(pca_rows=rows, k=K)
    write_run(run)
    write_pca_parts(session, RUN_ID, rows)  # in place of the sample's own part file
    reads = count_reads(session)
    assert validate.handle({"run_id": RUN_ID, "output": RESULTS}, session)["in_pca"] == rows
    return Counter({key: n for key, n in reads.items() if "/pca/" in key or key == "GETs"})


@pytest.mark.parametrize("rows", [3_000])
def test_validate_reads_a_fixed_tail_of_each_part_file_whatever_its_rows(
    session, make_run, write_run, context, rows
):
    small = pca_reads(session, make_run, write_run, context, rows)
    large = pca_reads(session, make_run, write_run, context, rows * 10)

    pca_small = {key: n for key, n in small.items() if key != "GETs"}
    pca_large = {key: n for key, n in large.items() if key != "GETs"}
    assert len(pca_large) == PARTS and set(pca_large.values()) == {TAIL_BYTES}
    assert pca_small == pca_large  # ten times the rows, the same bytes read
    assert small["GETs"] == large["GETs"]  # and the same requests: one per part file, plus the report
