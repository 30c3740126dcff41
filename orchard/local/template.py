"""What the local stack takes from template.yaml: parameters, resource properties, a tiny intrinsic resolver.

Only the intrinsics the template uses are resolved (Ref, AWS::NoValue included, Fn::Sub, Fn::GetAtt,
Fn::If/Not/Equals, Fn::Select/Split/Join, Fn::FindInMap); physical ids of resources are supplied by the local
deploy as it creates them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from orchard.local import REPO

TEMPLATE = REPO / "template.yaml"
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STACK_NAME = "orchard"
# What CloudFormation's AWS::StackId looks like; the template derives unique names from its UUID.
STACK_UUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/" + STACK_UUID
NO_VALUE: Any = object()  # !Ref AWS::NoValue: the list item or property is dropped


# A DefinitionSubstitutions placeholder of the state machine definition.
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def fill_placeholders(text: str, values: Mapping[str, Any] | Callable[[str], Any]) -> str:
    """The definition text with each ${Name} replaced by its value (a mapping, or a function of the name)."""
    value_of = values if callable(values) else values.__getitem__
    return PLACEHOLDER.sub(lambda match: str(value_of(match.group(1))), text)


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
            "AWS::StackId": STACK_ID,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
        }
        if name in self.overrides:  # pseudo parameters too, to resolve the template for other stacks
            return str(self.overrides[name])
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name]["Default"])
        return self.refs[name]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(self.resolve, node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, value)] = node.items()
            intrinsic = self.intrinsics().get(key)
            if intrinsic is not None:
                return intrinsic(value)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda v: NO_VALUE if v == "AWS::NoValue" else self.parameter(v),
            "Fn::GetAtt": lambda v: self.attributes[v if isinstance(v, str) else ".".join(v)],
            "Fn::Sub": self.substitute,
            "Fn::If": lambda v: self.resolve(v[1] if self.condition(v[0]) else v[2]),
            "Fn::Not": lambda v: not self.resolve(v[0]),
            "Fn::Equals": lambda v: str(self.resolve(v[0])) == str(self.resolve(v[1])),
            "Fn::Select": lambda v: self.resolve(v[1])[int(self.resolve(v[0]))],
            "Fn::Split": lambda v: str(self.resolve(v[1])).split(v[0]),
            "Fn::Join": lambda v: v[0].join(str(item) for item in self.resolve(v[1])),
            "Fn::FindInMap": lambda v: self.template["Mappings"][v[0]][str(self.resolve(v[1]))][v[2]],
        }

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
