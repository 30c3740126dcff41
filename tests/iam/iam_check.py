"""The check itself: the calls of a flow (observed, derived, modelled), each as AWS authorizes it for the role
of its caller, evaluated against the deployed policies; and which grants no call uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from iam_calls import Call, requests
from iam_eval import Decision, Evaluator, Request
from iam_roles import Deployment, Grant


def authorizations(deployment: Deployment, calls: Iterable[Call]) -> list[Request]:
    return [r for call in calls for r in requests(call, deployment.callers[call.caller])]


def evaluate(evaluator: Evaluator, deployment: Deployment, calls: Iterable[Call]) -> list[Decision]:
    return evaluator.evaluate(deployment.policies(), authorizations(deployment, calls))


def denied(decisions: Iterable[Decision]) -> list[Decision]:
    """The requests AWS would refuse (or that the evaluator could not evaluate), each once."""
    unique = {d.request.key(): d for d in decisions if not d.allowed}
    return list(unique.values())


def unused(deployment: Deployment, decisions: Sequence[Decision]) -> list[Grant]:
    """Grants that allowed none of the requests."""
    used = {
        (d.request.role, use.policy, use.statement, action, resource)
        for d in decisions
        for use in d.allowed_by
        for action in use.actions
        for resource in use.resources
    }
    grants = deployment.grants()
    return [g for g in grants if (g.role, g.policy, g.statement, g.action, g.resource) not in used]


def lines(items: Iterable[object]) -> str:
    return "\n".join(map(str, items))
