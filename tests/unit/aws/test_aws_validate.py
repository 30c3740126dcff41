"""validate: real Parquet outputs on moto S3, checked against the job contract and the report."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from aws_support import BUCKET, RESULTS, contract_table, parquet_bytes

from functions.validate import app as validate
from orchard_contract.layout import S3Uri, run_path
from orchard_contract.output_checks import REPORT_KEY
from orchard_contract.tables import PCA_COLUMNS

RUN_ID = "orchard-20250314T092655Z-3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"


def run_validate(context, run_id: str = RUN_ID) -> dict:
    return validate.lambda_handler({"run_id": run_id, "output": RESULTS}, context)


def test_valid_run_returns_summary(make_run, write_run, context, load_event):
    write_run(make_run(RUN_ID))

    summary = validate.lambda_handler(load_event("validate.json"), context)

    assert summary == {
        "valid": True,
        "run_id": RUN_ID,
        "k": 3,
        "listed": 4,
        "in_pca": 3,
        "rejected": 1,
        "featurized_this_run": 3,
        "feature_rows_written": 3,
        "cumulative_variance": pytest.approx(0.97),
    }


def test_cache_rows_moved_by_a_compaction_may_differ_in_nullability_only(
    make_run, write_run, session, context, load_event
):
    """Spark marks a column filled from a constant not null, the same column copied from Parquet nullable."""
    run = make_run(RUN_ID)
    write_run(run)
    strict = pa.schema(
        [f.with_nullable(f.name not in ("features", "content_sha256")) for f in run.features.schema]
    )
    part = run_path(S3Uri.parse(RESULTS).key, "features", RUN_ID, "part-00001-c000.snappy.parquet")
    session.client("s3").put_object(Bucket=BUCKET, Key=part, Body=parquet_bytes(run.features.cast(strict)))

    assert validate.lambda_handler(load_event("validate.json"), context)["feature_rows_written"] == 6

    wrong = run.features.set_column(0, "path", pa.array([1] * run.features.num_rows, pa.int64()))
    session.client("s3").put_object(Bucket=BUCKET, Key=part, Body=parquet_bytes(wrong))
    with pytest.raises(validate.RunValidationError, match="features: part files disagree on the schema"):
        validate.lambda_handler(load_event("validate.json"), context)


def test_run_without_rejects_and_without_new_features(make_run, write_run, context):
    run = make_run(RUN_ID, images=3, rejected=0)
    run.features = run.features.slice(0, 0)
    run.report["counts"].update(featurized_this_run=0, reused_from_cache=3)
    write_run(run)

    assert run_validate(context)["rejected"] == 0


def with_pca(run, vectors, paths=None, labels=None):
    n = len(vectors)
    run.pca = contract_table(
        PCA_COLUMNS,
        n,
        path=paths or run.pca.column("path").to_pylist()[:n],
        label=labels or run.pca.column("label").to_pylist()[:n],
        pca=vectors,
    )
    return run


def with_checks(run, **claimed):
    run.report[REPORT_KEY].update(claimed)
    return run


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            lambda r: with_pca(r, [[0.1, 0.2, 0.3], [0.1, 0.2], [0.0, 0.0, 0.0]]),
            "8 pca values in 3 rows, expected 9 (vectors not of length k=3)",
        ),
        (lambda r: with_pca(r, [[0.1, 0.2, 0.3], None, [0.0, 0.0, 0.0]]), "1 null pca value(s)"),
        (lambda r: with_pca(r, [[0.1, None, 0.3], [0.1, 0.2, 0.3], [0.0, 0.0, 0.0]]), "1 null pca value(s)"),
        (
            lambda r: with_pca(r, [[math.inf, 0.2, 0.3], [0.1, 0.2, 0.3], [0.0, 0.0, 0.0]]),
            "/inf is not finite",
        ),
        (lambda r: with_pca(r, [[math.nan] * 3] * 3), "no min/max for pca (all NaN, or no statistics)"),
        (lambda r: with_pca(r, [[0.1, 0.2, 0.3]] * 3, labels=["A", "", "B"]), "an empty label"),
        (lambda r: with_pca(r, [[0.1, 0.2, 0.3]] * 3, labels=["A", None, "B"]), "1 null label(s)"),
        (lambda r: with_pca(r, [[0.1, 0.2, 0.3]] * 2), "pca has 2 rows, report in_pca=3"),
        (lambda r: r.report["counts"].update(listed=5), "listed=5 != in_pca=3 + rejected=1"),
        (lambda r: r.report["counts"].update(rejected=2, listed=5), "rejects has 1 rows, report rejected=2"),
        (lambda r: r.report.update(status="failed"), "report status is 'failed'"),
        (lambda r: r.report.update(k=2), "report explained_variance has 3 values, k=2"),
        (
            lambda r: setattr(
                r, "pca", r.pca.set_column(2, "pca", r.pca.column("pca").cast(pa.list_(pa.float64())))
            ),
            "pca schema is (path string, label string, pca array<double>",
        ),
        (lambda r: setattr(r, "rejects", r.rejects.drop_columns(["reason"])), "rejects schema is"),
        (lambda r: setattr(r, "features", r.features.drop_columns(["runtime"])), "features schema is"),
        (
            lambda r: r.report.pop(REPORT_KEY),
            "report has no output_checks: the job's row-level checks did not run",
        ),
        (lambda r: r.report[REPORT_KEY].pop("paths_in_pca_and_rejects"), "lacks paths_in_pca_and_rejects"),
        (lambda r: with_checks(r, duplicate_paths_in_pca=2), "output_checks: duplicate_paths_in_pca = 2"),
        (lambda r: with_checks(r, paths_in_pca_and_rejects=1), "output_checks: paths_in_pca_and_rejects = 1"),
        (lambda r: with_checks(r, pca_rows=2), "output_checks: pca_rows = 2, but the report says 3"),
        (lambda r: with_checks(r, k=4), "output_checks: k = 4, but the report says 3"),
    ],
)
def test_invalid_run_raises_with_what_is_wrong(make_run, write_run, context, corrupt, message):
    run = make_run(RUN_ID)
    corrupt(run)
    write_run(run)

    with pytest.raises(validate.RunValidationError) as raised:
        run_validate(context)

    assert message in str(raised.value)
    assert str(raised.value).startswith(f"run {RUN_ID} is invalid: ")


def test_half_written_run_is_invalid(session, make_run, write_run, context):
    write_run(make_run(RUN_ID))
    session.client("s3").delete_object(Bucket=BUCKET, Key=f"results/pca/run_id={RUN_ID}/_SUCCESS")

    with pytest.raises(validate.RunValidationError, match="pca: no _SUCCESS marker"):
        run_validate(context)


def test_missing_report_is_invalid(session, context):
    with pytest.raises(
        validate.RunValidationError, match=r"no report at results/runs/run_id=nope/report\.json"
    ):
        run_validate(context, "nope")


def test_other_runs_are_not_read(make_run, write_run, context):
    write_run(make_run(RUN_ID))
    broken = make_run("orchard-other")
    broken.report["counts"]["listed"] = 99
    write_run(broken)

    assert run_validate(context)["listed"] == 4


@pytest.mark.parametrize(("images", "rejected"), [(1, 0), (2, 1), (1, 1), (0, 0)])
def test_fewer_than_two_images_publish_with_k_0(make_run, write_run, context, images, rejected):
    write_run(make_run(RUN_ID, images=images, rejected=rejected, k=0))  # no pca part file when none is in it

    summary = run_validate(context)

    assert (summary["k"], summary["in_pca"], summary["cumulative_variance"]) == (0, images - rejected, None)


def test_an_empty_pca_part_file_is_an_empty_table(session, make_run, write_run, context):
    run = make_run(RUN_ID, images=1, rejected=1, k=0)
    write_run(run)
    part = f"results/pca/run_id={RUN_ID}/part-00000-c000.snappy.parquet"  # as Spark writes an empty frame
    session.client("s3").put_object(Bucket=BUCKET, Key=part, Body=parquet_bytes(run.pca))

    assert run_validate(context)["in_pca"] == 0


@pytest.mark.parametrize(
    ("images", "k", "message"),
    [
        (2, 1, "report k is 1, expected 0 for in_pca=1"),
        (1, 1, "report k is 1, expected 0 for in_pca=0"),
        (3, 0, "report k is 0, expected a positive integer"),
    ],
)
def test_k_0_is_for_fewer_than_two_images_only(make_run, write_run, context, images, k, message):
    write_run(make_run(RUN_ID, images=images, rejected=1, k=k))

    with pytest.raises(validate.RunValidationError, match=message):
        run_validate(context)


def test_a_missing_pca_part_file_is_invalid_when_images_are_in_it(session, make_run, write_run, context):
    write_run(make_run(RUN_ID, images=2, rejected=1, k=0))
    session.client("s3").delete_object(
        Bucket=BUCKET, Key=f"results/pca/run_id={RUN_ID}/part-00000-c000.snappy.parquet"
    )

    with pytest.raises(validate.RunValidationError, match="pca: no part files"):
        run_validate(context)


@pytest.mark.parametrize(
    ("body", "why"), [(b"not parquet at all", "no Parquet footer at its end"), (b"", "")]
)
def test_a_part_file_that_is_no_parquet_is_invalid(session, make_run, write_run, context, body, why):
    write_run(make_run(RUN_ID))
    part = f"results/rejects/run_id={RUN_ID}/part-00000-c000.snappy.parquet"
    session.client("s3").put_object(Bucket=BUCKET, Key=part, Body=body)

    with pytest.raises(validate.RunValidationError) as raised:
        run_validate(context)

    assert "rejects: part-00000-c000.snappy.parquet is not a readable Parquet file" in str(raised.value)
    assert why in str(raised.value)
    assert "rejects has 0 rows, report rejected=1" in str(raised.value)


def test_a_missing_rejects_part_file_is_invalid(session, make_run, write_run, context):
    write_run(make_run(RUN_ID))
    session.client("s3").delete_object(
        Bucket=BUCKET, Key=f"results/rejects/run_id={RUN_ID}/part-00000-c000.snappy.parquet"
    )

    with pytest.raises(validate.RunValidationError, match="rejects has 0 rows, report rejected=1"):
        run_validate(context)
