"""Roles as AWS sees them: template.yaml after the SAM transform, its intrinsics resolved to the ARNs of the
local stack's real (moto) resources, so that policies and recorded calls name the same things."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iam_eval import Policies
from samtranslator.translator.transform import transform

from orchard.local import template as tpl
from orchard.local.job_runner import EMR_SYNC
from orchard.local.template import Resolver, fill_placeholders

STATE_MACHINE = "state machine"  # caller name of the Step Functions service acting for the state machine
JOB = "job"  # caller name of the EMR Serverless job run (and of EMR acting for it)
CODE_URI = "s3://artifacts/code.zip"  # what `sam package` puts in CodeUri


class NoManagedPolicies:
    """The transform looks up AWS managed policies by name; the template uses none."""

    def load(self) -> dict[str, str]:
        return {}


def transform_template(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """What CloudFormation receives after `sam package` (S3 code URIs) and the SAM transform."""
    packaged: dict[str, Any] = copy.deepcopy(dict(template))
    for resource in packaged["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = CODE_URI
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = CODE_URI
        if resource["Type"] == "AWS::Serverless::StateMachine":
            properties["Definition"] = json.loads((tpl.REPO / properties.pop("DefinitionUri")).read_text())
    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = tpl.REGION  # the transform reads it for partition-specific values
    try:
        result: dict[str, Any] = transform(packaged, dict(parameters), NoManagedPolicies())
    finally:
        if region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = region
    return result


@dataclass(frozen=True)
class Grant:
    """One thing a role may do: (role, policy, statement, action, resource pattern)."""

    role: str
    policy: str
    statement: str  # Sid, or the 1-based index (what the evaluator reports)
    action: str
    resource: str


@dataclass
class Deployment:
    transformed: dict[str, Any]
    resolver: Resolver  # over the transformed template, with the local stack's physical ids
    role_arns: dict[str, str]  # role logical id -> ARN
    callers: dict[str, str]  # function name / STATE_MACHINE / JOB -> role logical id

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        found = self.transformed["Resources"].items()
        return {name: r.get("Properties", {}) for name, r in found if r["Type"] == kind}

    def policies(self) -> Policies:
        identity = {
            role: [
                {"name": p["PolicyName"], "policy": self.resolver.resolve(p["PolicyDocument"])}
                for p in properties.get("Policies", [])
            ]
            for role, properties in self.resources("AWS::IAM::Role").items()
        }
        buckets = {
            self.resolver.resolve(p["Bucket"]): self.resolver.resolve(p["PolicyDocument"])
            for p in self.resources("AWS::S3::BucketPolicy").values()
        }
        topics = {
            topic: self.resolver.resolve(p["PolicyDocument"])
            for p in self.resources("AWS::SNS::TopicPolicy").values()
            for topic in self.resolver.resolve(p["Topics"])
        }
        keys = {
            self.resolver.attributes[f"{name}.Arn"]: self.resolver.resolve(p["KeyPolicy"])
            for name, p in self.resources("AWS::KMS::Key").items()
        }
        return Policies(self.role_arns, identity, buckets, {**topics, **keys})

    def grants(self) -> list[Grant]:
        return [
            Grant(role, policy["name"], str(statement.get("Sid", index)), action, resource)
            for role, policies in self.policies().identity.items()
            for policy in policies
            for index, statement in enumerate(as_list(policy["policy"]["Statement"]), start=1)
            if statement["Effect"] == "Allow"
            for action in as_list(statement["Action"])
            for resource in as_list(statement["Resource"])
        ]

    def definition(self) -> dict[str, Any]:
        """The state machine definition as Step Functions receives it (DefinitionSubstitutions applied)."""
        [machine] = self.resources("AWS::StepFunctions::StateMachine").values()
        text = self.resolver.resolve(machine["DefinitionString"])
        substitutions = self.resolver.resolve(machine["DefinitionSubstitutions"])
        replaced = fill_placeholders(text, substitutions)
        definition: dict[str, Any] = json.loads(replaced)
        return definition


def deployment(transformed: dict[str, Any], local: Resolver) -> Deployment:
    """The transformed template resolved with what the local deploy created (`local` is its resolver)."""
    template = copy.deepcopy(transformed)
    attributes = dict(local.attributes)
    machine = local.refs["StateMachine"]
    attributes["StateMachine.Name"] = machine.rsplit(":", 1)[-1]
    roles = [name for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    role_arns = {
        role: attributes.get(f"{role}.Arn", f"arn:aws:iam::{tpl.ACCOUNT_ID}:role/{tpl.STACK_NAME}-{role}")
        for role in roles
    }
    attributes.update({f"{role}.Arn": arn for role, arn in role_arns.items()})
    resolver = Resolver(template, dict(local.overrides), dict(local.refs), attributes)
    result = Deployment(template, resolver, role_arns, {})
    for function in result.resources("AWS::Lambda::Function").values():
        result.callers[resolver.resolve(function["FunctionName"])] = function["Role"]["Fn::GetAtt"][0]
    [machine_properties] = result.resources("AWS::StepFunctions::StateMachine").values()
    result.callers[STATE_MACHINE] = machine_properties["RoleArn"]["Fn::GetAtt"][0]
    [job_role] = {task["Parameters"]["ExecutionRoleArn"] for task in emr_tasks(result.definition())}
    result.callers[JOB] = next(role for role, arn in role_arns.items() if arn == job_role)
    return result


def emr_tasks(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The definition's EMR Serverless .sync Task states (the job runs are started there)."""
    return [state for state in definition["States"].values() if state.get("Resource") == EMR_SYNC]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def with_parameters(transformed: dict[str, Any], local: Resolver, **parameters: str) -> Deployment:
    resolver = Resolver(local.template, {**local.overrides, **parameters}, local.refs, local.attributes)
    return deployment(transformed, resolver)


def role_statement(
    transformed: dict[str, Any], role: str, sid: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The statement list holding the statement `sid` of `role`, and the statement."""
    for policy in transformed["Resources"][role]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        for found in statements:
            if isinstance(found, dict) and found.get("Sid") == sid:
                return statements, found
    raise KeyError(sid)
