"""Which JSONPath reads of a definition can select nothing: a definite-presence analysis over its states.

On AWS a path that selects nothing in Parameters, a ResultSelector, a Choice rule's Variable, a Wait's
SecondsPath or a Fail's ErrorPath/CausePath raises States.Runtime, and ``States.ALL`` does not catch
States.Runtime: the execution fails without reaching its failure handling
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). moto's interpreter lets a
Catch take some of these errors and answers ``false`` for a Choice Variable that is missing, so a run on moto
cannot show them: this analysis can, on any definition.

A path is *present* at a state when every way into the state puts it there: a Pass's Parameters or Result,
a Task's ResultSelector keys at its ResultPath, a Catch's error output (``Error`` only: the States Language
spec says it MUST have Error and SHOULD have Cause, https://states-language.net/spec.html#error-output), or a
Choice rule ``And`` whose earlier ``IsPresent`` held: And stops at its first false rule, so its later rules
read only what the earlier ones found (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html).
An integration's answer is read only where its documentation fixes a field: lambda:invoke's ``Payload``
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html). A comparison must also follow a
test of its type (``IsString`` before ``StringEquals``): AWS compares a value of another type as false, and
the definition states it rather than relies on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

Present = frozenset[str]

ANSWER_FIELDS = {"arn:aws:states:::lambda:invoke": {"$", "$.Payload"}}
ERROR_OUTPUT = ("Error",)
TYPE_TESTS = {
    "String": "IsString",
    "Numeric": "IsNumeric",
    "Boolean": "IsBoolean",
    "Timestamp": "IsTimestamp",
}
QUOTED = re.compile(r"'(?:\\.|[^'\\])*'")
PATH = re.compile(r"(?<![\w$])\$\$?[\w.\[\]]*")


def unsafe_reads(definition: Mapping[str, Any]) -> list[str]:
    """Every read that can select nothing, as ``"<state>: <field> reads <path>"``."""
    states = definition["States"]
    inputs: dict[str, Present] = {definition["StartAt"]: frozenset()}
    pending = [definition["StartAt"]]
    while pending:
        name = pending.pop()
        for following, present in edges(states[name], inputs[name]):
            merged = present if following not in inputs else inputs[following] & present
            if inputs.get(following) != merged:
                inputs[following] = merged
                pending.append(following)
    return [
        f"{name}: {problem}"
        for name in states
        if name in inputs
        for problem in problems(states[name], inputs[name])
    ]


def edges(state: Mapping[str, Any], present: Present) -> Iterator[tuple[str, Present]]:
    """(next state, paths present there) for each way out of the state."""
    kind = state["Type"]
    if kind == "Choice":
        for rule in state["Choices"]:
            yield rule["Next"], chain(rule, present)[1]
        if "Default" in state:
            yield state["Default"], present
        return
    if kind == "Pass":
        template = state.get("Parameters", state.get("Result"))
        yield state["Next"], put(present, state.get("ResultPath", "$"), keys(template))
    elif kind == "Task":
        yield state["Next"], put(present, state.get("ResultPath", "$"), keys(state.get("ResultSelector")))
    elif kind == "Wait":
        yield state["Next"], present
    for catcher in state.get("Catch", []):
        yield catcher["Next"], put(present, catcher.get("ResultPath", "$"), ERROR_OUTPUT)


def problems(state: Mapping[str, Any], present: Present) -> Iterator[str]:
    for field in ("InputPath", "OutputPath", "ItemsPath"):
        if state.get(field, "$") != "$":
            yield f"{field} is not analysed"
    if state["Type"] in ("Map", "Parallel"):
        yield f"{state['Type']} is not analysed"
    yield from missing("Parameters", reads(state.get("Parameters")), present)
    if "ResultSelector" in state:
        answer = frozenset(ANSWER_FIELDS.get(state.get("Resource", ""), {"$"}))
        yield from missing("ResultSelector", reads(state["ResultSelector"]), answer)
    for field in ("SecondsPath", "TimestampPath", "ErrorPath", "CausePath"):
        if field in state:
            yield from missing(field, paths(state[field]), present)
    for rule in state.get("Choices", []):
        yield from chain(rule, present)[0]


def chain(rule: Mapping[str, Any], present: Present) -> tuple[list[str], Present]:
    """Problems of a Choice rule, and what is present when it matches (``And`` reads in order)."""
    found: list[str] = []
    known, typed = set(present), dict[str, str]()
    for item in rule.get("And", [rule]):
        if "And" in item or "Or" in item or "Not" in item:
            for inner in item.get("And", item.get("Or", [item.get("Not")])):
                found += chain(inner, frozenset(known))[0]
            continue
        variable, test = item["Variable"], comparison(item)
        if test != "IsPresent" and variable not in known:
            found.append(f"Choice {test} reads {variable} before IsPresent")
        family = next((f for f in TYPE_TESTS if test.startswith(f)), None)
        if family and typed.get(variable) != family:
            found.append(f"Choice {test} reads {variable} before {TYPE_TESTS[family]}")
        if test.endswith("Path"):
            found += [f"Choice {test} reads {p}" for p in paths(item[test]) if p not in known]
        if item[test] is True and test == "IsPresent":
            known |= prefixes(variable)
        if item[test] is True and test in TYPE_TESTS.values():
            typed[variable] = next(f for f, t in TYPE_TESTS.items() if t == test)
    return found, frozenset(known)


def comparison(rule: Mapping[str, Any]) -> str:
    [test] = [key for key in rule if key not in ("Variable", "Next")]
    return test


def missing(field: str, read: Iterator[str], present: Present) -> Iterator[str]:
    for path in read:
        if path != "$" and not path.startswith("$$") and path not in present:
            yield f"{field} reads {path}"


def reads(template: Any) -> Iterator[str]:
    """The paths a payload template's ``.$`` fields read (intrinsic functions' path arguments included)."""
    if isinstance(template, Mapping):
        for key, value in template.items():
            yield from paths(value) if key.endswith(".$") else reads(value)
    elif isinstance(template, list):
        for item in template:
            yield from reads(item)


def paths(expression: str) -> Iterator[str]:
    yield from PATH.findall(QUOTED.sub("", expression))


def keys(template: Any, prefix: str = "") -> list[str]:
    """The fields a template or Result puts in place, as paths relative to where it is put."""
    if not isinstance(template, Mapping):
        return []
    found = []
    for key, value in template.items():
        name = prefix + key.removesuffix(".$")
        found += [name, *(keys(value, name + ".") if not key.endswith(".$") else [])]
    return found


def put(present: Present, result_path: str | None, fields: tuple[str, ...] | list[str]) -> Present:
    """What is present after a result with these fields lands at result_path (null: discarded)."""
    if result_path is None:
        return present
    if result_path == "$":
        return frozenset(f"$.{f}" for f in fields)
    kept = {p for p in present if p != result_path and not p.startswith(result_path + ".")}
    return frozenset(kept | prefixes(result_path) | {f"{result_path}.{f}" for f in fields})


def prefixes(path: str) -> set[str]:
    """$.a.b.c -> {$.a, $.a.b, $.a.b.c}: a present path's parents are present too."""
    parts = path.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
