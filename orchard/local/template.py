"""What the local stack takes from template.yaml: parameters, resource properties, a tiny intrinsic resolver.

Only the intrinsics the template uses are resolved (Ref, Fn::Sub, Fn::GetAtt, Fn::If/Not/Equals); physical ids
of resources are supplied by the local deploy as it creates them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from orchard.local_spark import REPO

TEMPLATE = REPO / "template.yaml"
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STACK_NAME = "orchard"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(path.read_text())
    return parsed


@dataclass
class Resolver:
    """Evaluates intrinsic functions against parameter values and the physical ids known so far."""

    template: Mapping[str, Any]
    overrides: Mapping[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[str, str] = field(default_factory=dict)  # "Logical.Attr" -> value

    def parameter(self, name: str) -> str:
        pseudo = {
            "AWS::StackName": STACK_NAME,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.overrides:
            return str(self.overrides[name])
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name]["Default"])
        return self.refs[name]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:  # noqa: PLR0911 (one return per intrinsic)
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, value)] = node.items()
            if key == "Ref":
                return self.parameter(value)
            if key == "Fn::GetAtt":
                name = value if isinstance(value, str) else ".".join(value)
                return self.attributes[name]
            if key == "Fn::Sub":
                return self.substitute(value)
            if key == "Fn::If":
                condition, when_true, when_false = value
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::Equals":
                left, right = (str(self.resolve(v)) for v in value)
                return left == right
        return {key: self.resolve(value) for key, value in node.items()}

    def substitute(self, value: str | list[Any]) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.attributes[name]
            return self.parameter(name)

        return re.sub(r"\$\{([\w:.]+)\}", one, text)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str  # functions/<name>/
    handler: str  # module.function
    properties: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{STACK_NAME}-{self.logical_id.removesuffix('Function').lower()}"


def functions(template: Mapping[str, Any]) -> list[FunctionSpec]:
    return [
        FunctionSpec(logical_id, props["CodeUri"], props["Handler"], props)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for props in [resource["Properties"]]
    ]


def function_environment(
    template: Mapping[str, Any], spec: FunctionSpec, resolver: Resolver
) -> dict[str, str]:
    """Globals' variables, then the function's own, resolved."""
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = spec.properties.get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in resolver.resolve({**global_env, **own}).items()}


def sqs_event_source(template: Mapping[str, Any], resolver: Resolver) -> dict[str, Any]:
    """The trigger's SQS event source (BatchSize, MaximumBatchingWindowInSeconds, ...), resolved."""
    for resource in template["Resources"].values():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "SQS":
                properties: dict[str, Any] = resolver.resolve(event["Properties"])
                return properties
    raise ValueError("template.yaml declares no SQS event source")
