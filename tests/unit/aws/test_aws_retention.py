"""Retention of run history (functions/catalog/retention.py): which runs it retires, and what it removes from
Glue and S3 (moto), including a retirement that dies midway and is finished by the next turn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import retention
from aws_support import BUCKET, DATABASE, RESULTS
from glue_tables import Catalog
from retention import Policy, manifest_to_delete, retire_history, runs_to_retire

from functions.catalog import app as catalog
from functions.trigger import app as trigger
from orchard_contract.layout import (
    FOLDER_MARKER,
    MODEL_POINTERS_FOLDER,
    MODELS_DATASET,
    S3Uri,
    run_id_of_folder,
    run_path,
)
from orchard_contract.tables import FEATURES, PCA_HISTORY, REJECTS_HISTORY
from orchard_contract.times import RUN_ID_TIME_FORMAT, run_id_time, time_text

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ROOT = S3Uri.parse(RESULTS)
POINTERS = f"results/{MODELS_DATASET}/{MODEL_POINTERS_FOLDER}/"
# Never retention's to delete: the feature cache, the run records, the carried-sums pointers.
PRESERVED = ("results/features/", "results/run_records/", POINTERS)


def run_id(days_ago: float, digest: str = "0" * 32) -> str:
    return f"orchard-{(NOW - timedelta(days=days_ago)).strftime(RUN_ID_TIME_FORMAT)}-{digest}"


A, B, C, D, E = (run_id(days, str(n) * 32) for n, days in enumerate([50, 40, 30, 20, 10]))


def test_runs_beyond_the_newest_are_retired_oldest_first():
    assert runs_to_retire([E, C, A, D, B], [A, B, C, D, E], [], Policy(2, 365), NOW) == [A, B, C]


def test_runs_older_than_the_days_are_retired_even_among_the_newest():
    assert runs_to_retire([A, B, C, D, E], [A, B, C, D, E], [], Policy(30, 35), NOW) == [A, B]


def test_runs_in_use_are_never_retired():
    assert runs_to_retire([A, B, C, D, E], [A, B, C, D, E], [A, E], Policy(2, 15), NOW) == [B, C, D]


def test_a_retry_is_newer_than_the_attempt_before_it():
    retry = f"{A}-r2"
    assert runs_to_retire([A, retry], [A, retry], [], Policy(1, 365), NOW) == [A]


def test_runs_without_partitions_go_once_older_than_the_oldest_kept_validated_run():
    """A failed run, or one whose retirement died after its partitions went: only folders are left."""
    assert runs_to_retire([A, B, C, D, E], [B, D, E], [], Policy(2, 365), NOW) == [A, B, C]


def test_a_run_whose_id_carries_no_time_is_never_retired():
    assert runs_to_retire(["manual-run", A, B], ["manual-run", A, B], [], Policy(1, 1), NOW) == [A, B]


def test_the_time_in_a_trigger_named_run_id_is_its_batchs_latest_upload():
    uploads = [
        trigger.Upload(BUCKET, f"images/A/{n}.jpg", "e", "s", f"2026-03-0{n}T10:00:0{n}.500Z") for n in (1, 2)
    ]
    name = trigger.execution_name(trigger.manifest_text(uploads), uploads)
    assert run_id_time(name) == run_id_time(f"{name}-r2") == datetime(2026, 3, 2, 10, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "run"),
    [("run_id=r1/", "r1"), ("run_id=r1-r2", "r1-r2"), (f"run_id=r1{FOLDER_MARKER}", "r1"),
     ("_snapshots/", None), ("run_id=/", None), ("part-0.parquet", None)],
)  # fmt: skip
def test_run_folders_are_read_back_from_their_names(name, run):
    assert run_id_of_folder(name) == run


def test_the_policy_keeps_at_least_one_run_and_one_day():
    with pytest.raises(ValueError, match="at least one run"):
        Policy(0, 90)
    assert Policy.from_env({}) == Policy(30, 90)


@pytest.mark.parametrize(
    ("record", "key"),
    [
        ({"status": "succeeded", "manifest": f"s3://{BUCKET}/manifests/x.txt"}, "manifests/x.txt"),
        ({"status": "failed", "manifest": f"s3://{BUCKET}/manifests/x.txt"}, None),  # a retry may read it
        ({"status": "succeeded", "manifest": f"s3://{BUCKET}/images/x.txt"}, None),
        ({"status": "succeeded", "manifest": "s3://other-bucket/manifests/x.txt"}, None),
        ({"status": "succeeded", "manifest": None}, None),
    ],
)
def test_only_a_succeeded_runs_own_manifest_is_deleted(record, key):
    assert manifest_to_delete(record, BUCKET, "manifests/") == key


def test_the_job_writes_its_pointers_where_retention_reads_them():
    from orchard_job.carried_sums import pointer

    assert pointer(RESULTS, "net") == f"{RESULTS}/{MODELS_DATASET}/{MODEL_POINTERS_FOLDER}/net.json"


def publish_event(load_event, run: str) -> dict:
    event = load_event("catalog.json")
    started = datetime.strptime(run.split("-")[1], RUN_ID_TIME_FORMAT).replace(tzinfo=UTC)
    event.update(run_id=run, started_at=time_text(started), manifest=f"s3://{BUCKET}/manifests/{run}.txt")
    return event


@pytest.fixture
def publish(session, make_run, write_run, load_event, context, monkeypatch):
    """Publish a run through the catalog handler, its outputs written as the job writes them (EMRFS markers,
    carried sums and their pointer included), with its manifest; RetainDays so far that only RetainRuns
    retires."""
    for name, value in {"DATABASE_NAME": DATABASE, "RETAIN_RUNS": "2", "RETAIN_DAYS": "36500"}.items():
        monkeypatch.setenv(name, value)
    s3 = session.client("s3")

    def publish_run(run: str) -> dict:
        write_run(make_run(run))
        for dataset in ("pca", "rejects", "runs", "models", "features"):
            s3.put_object(Bucket=BUCKET, Key=run_path("results", dataset, run) + FOLDER_MARKER, Body=b"")
        s3.put_object(Bucket=BUCKET, Key=run_path("results", "models", run, "sums.npz"), Body=b"s")
        s3.put_object(Bucket=BUCKET, Key=POINTERS + "net.json", Body=json.dumps({"run_id": run}).encode())
        s3.put_object(Bucket=BUCKET, Key=f"manifests/{run}.txt", Body=b"# batch\n")
        return catalog.lambda_handler(publish_event(load_event, run), context)

    return publish_run


def keys(session, prefix: str = "") -> set[str]:
    pages = session.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def runs_in(session, spec) -> set[str]:
    return Catalog(DATABASE, session).partition_runs(spec)


def history_left(session, run: str) -> set[str]:
    """What is left of a run's history: its partitions, objects (markers included) and manifest."""
    left = {f"partition {s.name}" for s in (PCA_HISTORY, REJECTS_HISTORY) if run in runs_in(session, s)}
    for key in keys(session):
        if key.startswith(PRESERVED):
            continue
        if f"run_id={run}/" in key or key.endswith(f"run_id={run}{FOLDER_MARKER}"):
            left.add(key)
    return left | ({f"manifests/{run}.txt"} & keys(session, "manifests/"))


def record(session, run: str) -> dict:
    body = session.client("s3").get_object(Bucket=BUCKET, Key=f"results/run_records/{run}.json")["Body"]
    return json.loads(body.read())


def test_a_publish_retires_the_runs_beyond_the_newest(session, publish):
    results = [publish(run) for run in (A, B, C, D)]

    assert [r["retention"]["retired"] for r in results] == [[], [], [A], [B]]
    for spec in (PCA_HISTORY, REJECTS_HISTORY):
        assert runs_in(session, spec) == {C, D}
    for run in (A, B):
        assert history_left(session, run) == set()
        assert record(session, run)["history_retired_at"] is not None
    assert record(session, C)["history_retired_at"] is None
    assert {f"manifests/{C}.txt", f"results/models/run_id={C}/sums.npz"} <= history_left(session, C)
    # The features table shows the published snapshot's partitions; the files of the one published until
    # this turn stay a turn longer.
    assert [r["retention"]["cache"]["dropped"] for r in results] == [[], [], [A], [B]]
    assert runs_in(session, FEATURES) == {D} and keys(session, f"results/features/run_id={C}")
    assert not keys(session, f"results/features/run_id={A}") and not keys(
        session, f"results/features/run_id={B}"
    )


def test_the_run_published_until_this_turn_stays_for_the_turn(session, publish, monkeypatch):
    """A query that started before the switch still reads it; the next turn retires it."""
    monkeypatch.setenv("RETAIN_DAYS", "1")  # every run is older than that

    assert [publish(run)["retention"]["retired"] for run in (A, B, C)] == [[], [], [A]]
    assert runs_in(session, PCA_HISTORY) == {B, C}


def test_a_failed_runs_folders_go_and_a_run_not_yet_cataloged_is_left_alone(
    session, publish, make_run, write_run
):
    s3 = session.client("s3")
    for run in (A, B):  # both jobs wrote their folders; A's run failed, B's catalog step has not run yet
        write_run(make_run(run))
    failed = {"run_id": A, "status": "failed", "manifest": f"s3://{BUCKET}/manifests/{A}.txt"}
    s3.put_object(Bucket=BUCKET, Key=f"results/run_records/{A}.json", Body=json.dumps(failed).encode())
    s3.put_object(Bucket=BUCKET, Key=f"manifests/{A}.txt", Body=b"# a retry of the batch reads it\n")

    assert [publish(run)["retention"]["retired"] for run in (C, D)] == [[], [A]]
    assert history_left(session, A) == {f"manifests/{A}.txt"}
    assert record(session, A)["history_retired_at"] is not None
    assert keys(session, f"results/pca/run_id={B}/")


def test_the_run_a_pointer_names_keeps_its_models_folder(session, publish):
    for run in (A, B, C):
        publish(run)
    old_network = json.dumps({"run_id": B}).encode()
    session.client("s3").put_object(Bucket=BUCKET, Key=POINTERS + "old.json", Body=old_network)

    assert publish(D)["retention"]["retired"] == [B]
    models = f"results/models/run_id={B}"
    assert history_left(session, B) == {f"{models}/sums.npz", models + FOLDER_MARKER}
    again = retire_history(
        session, ROOT, Catalog(DATABASE, session), Policy(2, 36500), keep=[D], manifests_prefix="manifests/"
    )
    assert again == []


def test_retiring_a_run_leaves_its_retry_whose_id_extends_it(session, publish):
    retry = f"{A}-r2"
    for run in (A, retry):
        publish(run)

    assert publish(B)["retention"]["retired"] == [A]
    assert history_left(session, A) == set()
    assert {f"results/{d}/run_id={retry}/" for d in ("pca", "rejects", "runs", "models")} <= {
        key.rsplit("/", 1)[0] + "/" for key in history_left(session, retry)
    }


@pytest.mark.parametrize("dies_in", ["write_record", "delete_partitions", "delete_keys", "delete_folder"])
def test_a_retirement_that_dies_midway_is_finished_by_the_next_turn(session, publish, monkeypatch, dies_in):
    monkeypatch.setenv("RETAIN_RUNS", "30")
    for run in (A, B, C):
        publish(run)
    monkeypatch.setenv("RETAIN_RUNS", "2")
    owner = {"write_record": retention, "delete_partitions": Catalog}.get(dies_in, retention.History)
    real, calls = getattr(owner, dies_in), []

    def dies_on_its_second_call(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("the function died here")
        return real(*args, **kwargs)

    with monkeypatch.context() as fault:
        fault.setattr(owner, dies_in, dies_on_its_second_call)
        result = publish(D)

    assert result["published"] is True
    assert result["retention"]["error"] == "RuntimeError: the function died here"
    for spec in (PCA_HISTORY, REJECTS_HISTORY):  # no partition ever points at deleted objects
        for run in runs_in(session, spec):
            assert keys(session, run_path("results", spec.dataset, run) + "/"), (spec.name, run)
    assert publish(E)["retention"]["retired"] == [A, B, C]
    for run in (A, B, C):
        assert history_left(session, run) == set(), run
        assert record(session, run)["history_retired_at"] is not None
    assert runs_in(session, PCA_HISTORY) == {D, E}


def test_a_failed_runs_cache_partition_stays_until_retention_retires_it(
    session, publish, make_run, write_run
):
    """A retry of the failed batch reuses the rows its attempt featurized; a validated run's unused partition
    goes at once."""
    write_run(make_run(A))  # A's job wrote its rows, then the run failed
    session.client("s3").put_object(
        Bucket=BUCKET, Key=f"results/features/run_id={A}/part-0.parquet", Body=b""
    )
    failed = {"run_id": A, "status": "failed"}
    session.client("s3").put_object(
        Bucket=BUCKET, Key=f"results/run_records/{A}.json", Body=json.dumps(failed).encode()
    )

    dropped = [publish(run)["retention"]["cache"]["dropped"] for run in (B, C, D)]

    assert dropped == [[], [A], [B]]  # A: once two newer runs validated (RetainRuns=2); B: unused once D
    assert runs_in(session, FEATURES) == {D}
