"""`--stack NAME`: a CloudFormation stack resolved to its outputs and resources, or one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

from deploy_support import FAKE_CREDENTIALS, REGION, create_stack, moto_account

from orchard import stacks
from orchard.cli import main


def test_a_stack_resolves_to_its_outputs_and_resources(monkeypatch):
    with moto_account(monkeypatch) as session:
        bucket = create_stack(session, "orchard-test")
        deployment = stacks.orchard_stack(session.client("cloudformation"), "orchard-test")
    assert deployment.outputs["BucketName"] == bucket
    assert deployment.resources["Bucket"] == bucket
    assert (deployment.name, deployment.region, deployment.status) == (
        "orchard-test",
        REGION,
        "CREATE_COMPLETE",
    )


def test_an_unknown_stack_is_one_clear_line(monkeypatch, capsys):
    with moto_account(monkeypatch):
        code = main(["aws-check", "--stack", "no-such-stack", "--region", REGION])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"aws-check: no stack named no-such-stack in {REGION} (is the region right?)"]


def test_a_stack_without_orchard_outputs_is_refused(monkeypatch, capsys):
    with moto_account(monkeypatch) as session:
        create_stack(session, "something-else", outputs=False)
        code = main(["aws-check", "--stack", "something-else", "--region", REGION])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1 and "not an Orchard stack" in err


def test_the_aws_path_never_imports_moto():
    """A real account is reached with the caller's credentials only: no emulator is even loaded."""
    script = (
        "import sys\n"
        "from orchard.cli import main\n"
        "code = main(['aws-check', '--stack', 'some-stack'])\n"
        "print(code, 'moto' in sys.modules, any(m.startswith('moto.') for m in sys.modules))\n"
    )
    env = {
        **os.environ,
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert (
        done.stderr.startswith("aws-check: cannot read stack some-stack") and "Traceback" not in done.stderr
    )
