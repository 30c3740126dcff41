"""template.yaml + statemachine/*.asl.json: lint (before and after the SAM transform), ASL wiring.

The EMR task's Parameters are checked against botocore's StartJobRun model on every local run of the
definition (orchard.local.job_runner), roles by the IAM check (test_aws_iam.py), packaging by
test_aws_packaging.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_support import REPO, TEMPLATE
from cfnlint.api import ManualArgs, lint
from statelint.linter import Linter

from orchard.local.template import PLACEHOLDER

ASL = REPO / "statemachine" / "orchard.asl.json"


def lint_errors(text: str) -> list[str]:
    return [str(m) for m in lint(text, config=ManualArgs(regions=["us-east-1"]))]


def test_cfn_lint_template():
    assert lint_errors(TEMPLATE.read_text()) == []


def test_cfn_lint_transformed_template(transformed):
    # Circular dependencies between generated resources only show up here.
    assert lint_errors(json.dumps(transformed)) == []


def test_statelint():
    assert Linter.validate(ASL.read_text()) == []


def asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(ASL.read_text())
    return definition


def test_placeholders_match_definition_substitutions(template):
    placeholders = set(PLACEHOLDER.findall(ASL.read_text()))
    substitutions = set(template["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"])
    assert placeholders == substitutions


def test_asl_has_no_account_region_or_names():
    text = ASL.read_text()
    assert not re.search(r"\d{12}|us-east-1|eu-west-1|arn:aws:(lambda|iam|s3)|orchard-", text)
    assert "QueryLanguage" not in text  # JSONPath (the default) so moto's interpreter runs it


def test_state_order_and_failure_paths():
    states = asl()["States"]
    assert asl()["StartAt"] == "CheckInput"
    happy = ["CheckInput", "Prepare", "TakeTurn", "IsItMyTurn", "RunFeaturizeJob", "HasJobRunId",
             "RecordJobUsage", "Validate", "IsRunValid"]  # fmt: skip
    assert [states[s].get("Next") or states[s]["Choices"][0]["Next"] for s in happy] == [
        *happy[1:],
        "CatalogAndPublish",
    ]
    assert states["CatalogAndPublish"]["Next"] == "Published"
    assert states["Published"]["Type"] == "Succeed"
    for name in ("TakeTurn", "RunFeaturizeJob", "Validate", "CatalogAndPublish"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
        ]
    for name in ("RejectInput", "RejectRun"):
        assert states[name]["Next"] == "RecordFailure"
    assert states["CheckInput"]["Default"] == "RejectInput"
    assert states["IsRunValid"]["Default"] == "RejectRun"
    assert states["RecordFailure"]["Next"] == states["RecordFailure"]["Catch"][0]["Next"] == "RunFailed"
    assert states["RunFailed"]["Type"] == "Fail"


def test_lambda_tasks_use_lambda_invoke_with_payload():
    states = asl()["States"]
    for name in ("Validate", "CatalogAndPublish", "RecordFailure"):
        assert states[name]["Resource"] == "arn:aws:states:::lambda:invoke"
        assert "Payload" in states[name]["Parameters"]


def test_events_fixtures_are_json():
    for path in Path(REPO / "events").glob("*.json"):
        json.loads(path.read_text())


def test_no_lifecycle_rule_expires_what_a_table_or_the_flow_reads(template):
    """moto never expires objects, so the rules are checked here: an expiring prefix may hold neither the
    images nor the results (every Glue table points under them)."""
    parameters = template["Parameters"]
    kept = [parameters[name]["Default"] for name in ("ImagesPrefix", "ResultsPrefix")]
    rules = template["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [rule.get("Prefix", "") for rule in rules if "ExpirationInDays" in rule]
    assert expiring, "the manifests and the job logs expire"
    for prefix in expiring:
        assert prefix, "a rule without a prefix expires the whole bucket"
        assert not any(prefix.startswith(k.rstrip("/")) or k.startswith(prefix.rstrip("/")) for k in kept), (
            prefix
        )
