"""`orchard aws-check --stack local` against a local stack holding a user's snapshot (96 px, the real job):
healthy, it passes every step and leaves the snapshot as it was; with a broken job or a catalog that cannot
publish, it names the failed state and where to look, fails, and still cleans up."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from local_support import FakeJob

from orchard.aws_check import Check, Limits
from orchard.cli import main
from orchard.local.check_edge import local_edge
from orchard.local.run import local_stack, upload_and_run
from orchard.local.stack import JOB_RUNNER
from orchard.query import run_query
from orchard.samples import write_samples

pytestmark = pytest.mark.slow
STATE_MACHINE_LOGS = "state machine:  log group /aws/vendedlogs/states/orchard"


@dataclass(frozen=True)
class Seeded:
    state: Path
    snapshot: list[tuple[str, str]]  # (path, label) of every published image


def snapshot(state: Path) -> list[tuple[str, str]]:
    return [(str(path), str(label)) for path, label in run_query(state, "SELECT path, label FROM pca").rows]


def saved_check_objects(state: Path) -> list[Path]:
    """Files of the check's objects in the saved bucket (a later session would restore them)."""
    return [p for p in (state / "bucket").rglob("*") if p.is_file() and "/AwsCheck" in p.as_posix()]


def copy_state(seeded: Seeded, tmp_path: Path) -> Path:
    return Path(shutil.copytree(seeded.state, tmp_path / "state"))


def check_cli(state: Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["aws-check", "--stack", "local", "--state", str(state), "--start-timeout", "60"])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, baked_network: Path) -> Seeded:
    root = tmp_path_factory.mktemp("aws-check")
    write_samples(root / "images", per_label=2, n_labels=2)  # 4 images, 1 corrupt: the user's snapshot
    with local_stack(root / "state", {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        upload_and_run(stack, root / "images")
    return Seeded(root / "state", snapshot(root / "state"))


@pytest.fixture(scope="module")
def healthy(seeded: Seeded) -> tuple[int, str]:
    return check_cli(seeded.state)


def test_a_healthy_stack_passes_every_step(healthy):
    code, out = healthy
    assert code == 0, out
    verdicts = [line.split()[:2] for line in out.splitlines() if line.startswith("[")]
    assert verdicts == [["[PASS]", step] for step in ("upload", "run", "published", "cleanup")]
    assert "[FAIL]" not in out and out.splitlines()[-1].startswith("aws-check passed (4 steps)")


def test_the_check_follows_its_run_state_by_state(healthy):
    _, out = healthy
    followed = [line.split()[0] for line in out.splitlines() if line.startswith("    ")]
    assert followed.count("RunFeaturizeJob") == 2  # the check's run and the run its deletions start
    assert followed.count("Published") == 2
    assert "rejects: corrupt_truncated.jpg (" in out and "runs: orchard-" in out


def test_after_the_check_the_snapshot_is_as_before(seeded, healthy):
    assert sorted(snapshot(seeded.state)) == sorted(seeded.snapshot)
    assert saved_check_objects(seeded.state) == []


def test_a_broken_job_names_the_state_and_the_jobs_log(seeded, tmp_path):
    state = copy_state(seeded, tmp_path)
    broken = tmp_path / "broken_job.py"
    broken.write_text("raise SystemExit('the job broke on purpose')\n")
    parameters = json.loads((state / "parameters.json").read_text())
    (state / "parameters.json").write_text(json.dumps({**parameters, "EntryPoint": f"file://{broken}"}))

    code, out = check_cli(state)

    assert code == 1, out
    assert "failed state:   RunFeaturizeJob (EMRServerless.JobRunFailed)" in out
    assert STATE_MACHINE_LOGS in out
    [job_log] = [line.split("job log:", 1)[1].strip() for line in out.splitlines() if "job log:" in line][:1]
    assert "the job broke on purpose" in Path(job_log).read_text()
    assert "[PASS] cleanup" in out and snapshot(state) == seeded.snapshot and saved_check_objects(state) == []
    assert out.splitlines()[-1].startswith("aws-check FAILED at step 'run' (state RunFeaturizeJob)")


def test_a_table_not_published_names_the_catalog_and_its_log_group(seeded, tmp_path):
    state, lines = copy_state(seeded, tmp_path), list[str]()
    with local_edge(state, echo=False) as edge:
        edge.stack.functions.add(JOB_RUNNER, FakeJob(edge.stack))  # no Spark: the job is not what fails here
        catalog = edge.stack.resolver.refs["CatalogFunction"]
        edge.stack.functions.inject(catalog, RuntimeError("Glue refused the table"))
        code = Check(edge, Limits(start_seconds=60, run_seconds=300), echo=lines.append).run()
    out = "\n".join(lines)
    assert code == 1, out
    assert "failed state:   CatalogAndPublish (RuntimeError)" in out
    assert f"its log group:  /aws/lambda/{catalog}" in out and STATE_MACHINE_LOGS in out
    assert "Glue refused the table" in out
    assert any(
        line.strip().startswith("job run:") and "on EMR Serverless application" in line for line in lines
    )
    assert any(line.strip().startswith("job log:") for line in lines)
    assert "[PASS] cleanup" in out and "pca shows none of the check's images" in out
