"""template.yaml + statemachine/*.asl.json: lint (before and after the SAM transform), IAM, ASL wiring."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
from aws_support import REPO, TEMPLATE, as_list, policy_statements
from botocore.validate import ParamValidator
from cfnlint.api import ManualArgs, lint
from statelint.linter import Linter

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
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
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


def resolve(value: Any, state: dict[str, Any], context: dict[str, Any]) -> Any:
    """Evaluate the simple JSONPaths and States.Array of a Parameters block against sample data."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate(item, state, context)
            else:
                out[key] = resolve(item, state, context)
        return out
    return value


def evaluate(expression: str, state: dict[str, Any], context: dict[str, Any]) -> Any:
    if expression.startswith("States.Array("):
        inner = expression[len("States.Array(") : -1]
        return [evaluate(arg.strip(), state, context) for arg in re.findall(r"'[^']*'|[^,]+", inner)]
    if expression.startswith("'"):
        return expression.strip("'")
    root, path = (context, expression[3:]) if expression.startswith("$$.") else (state, expression[2:])
    for part in path.split("."):
        root = root[part]
    return root


def pascal_to_model(params: dict[str, Any], shape: Any) -> dict[str, Any]:
    """Step Functions' PascalCase parameters -> the service model's member names, guided by the shape."""
    members = {name.lower(): name for name in shape.members}
    out: dict[str, Any] = {}
    for key, value in params.items():
        member = members[key.lower()]
        member_shape = shape.members[member]
        out[member] = pascal_to_model(value, member_shape) if member_shape.type_name == "structure" else value
    return out


def test_emr_task_parameters_are_a_valid_start_job_run_request(template):
    substitutions = {
        "BucketName": "orchard-123456789012-us-east-1",
        "ImagesPrefix": "images/",
        "ResultsPrefix": "results",
        "ApplicationId": "00fabcdexample",
        "JobRoleArn": "arn:aws:iam::123456789012:role/orchard-JobRole-ABC",
        "EntryPoint": "local:///opt/orchard/featurize.py",
        "SparkSubmitParameters": "--conf spark.executor.cores=4",
        "Weights": "imagenet",
        "ImageSize": "224",
        "Runtime": "tflite",
        "PcaFlag": "--variance",
        "PcaValue": "0.95",
    }
    text = re.sub(r"\$\{(\w+)\}", lambda m: substitutions.get(m.group(1), "x"), ASL.read_text())
    states = json.loads(text)["States"]
    name = "orchard-20250314T092655Z-3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"
    context = {"Execution": {"Name": name, "StartTime": "2025-03-14T09:28:01.123Z"}}
    state = {"manifest": f"s3://orchard-123456789012-us-east-1/manifests/{name}.txt"}
    state["run"] = resolve(states["Prepare"]["Parameters"], state, context)

    assert states["RunFeaturizeJob"]["Resource"] == "arn:aws:states:::emr-serverless:startJobRun.sync"
    params = resolve(states["RunFeaturizeJob"]["Parameters"], state, context)
    model = botocore.session.get_session().get_service_model("emr-serverless")
    shape = model.operation_model("StartJobRun").input_shape
    request = pascal_to_model(params, shape)
    report = ParamValidator().validate(request, shape)

    assert not report.has_errors(), report.generate_report()
    assert request["clientToken"] == request["name"] == name
    arguments = request["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert arguments[:8] == [
        "--input",
        "s3://orchard-123456789012-us-east-1/images/",
        "--manifest",
        state["manifest"],
        "--output",
        "s3://orchard-123456789012-us-east-1/results",
        "--run-id",
        name,
    ]
    assert arguments[-2:] == ["--variance", "0.95"]


def test_pass_role_only_for_the_job_role_to_emr_serverless(transformed):
    passes = [s for _, s in policy_statements(transformed) if "iam:PassRole" in as_list(s["Action"])]
    assert passes == [
        {
            "Sid": "PassJobRoleToEmrServerlessOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": ["JobRole", "Arn"]},
            "Condition": {"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}},
        }
    ]


def test_state_machine_emr_permissions_are_scoped(transformed):
    statements = {s.get("Sid"): s for role, s in policy_statements(transformed) if role == "StateMachineRole"}
    assert statements["StartJobOnOrchardApplication"]["Resource"] == {"Fn::GetAtt": ["EmrApplication", "Arn"]}
    assert statements["WatchOrchardJobRuns"]["Resource"] == {"Fn::Sub": "${EmrApplication.Arn}/jobruns/*"}
    rule = statements["SyncIntegrationManagedRule"]["Resource"]["Fn::Sub"]
    assert rule.endswith(":rule/StepFunctionsGetEventsForEMRServerlessJobRule")
    star = [s for s in statements.values() if s["Resource"] == "*"]
    assert [s["Sid"] for s in star] == ["StateMachineLogDelivery"]
    assert all(a.startswith("logs:") for a in star[0]["Action"])


def test_functions_run_python_312_with_their_own_requirements(template):
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    for resource in functions.values():
        folder = REPO / resource["Properties"]["CodeUri"]
        assert (folder / "app.py").exists() and (folder / "requirements.txt").exists()
        module, handler = resource["Properties"]["Handler"].split(".")
        assert f"def {handler}(" in (folder / f"{module}.py").read_text()


def test_events_fixtures_are_json():
    for path in Path(REPO / "events").glob("*.json"):
        json.loads(path.read_text())
