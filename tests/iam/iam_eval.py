"""IAM decisions for requests, from @cloud-copilot/iam-simulate run in one node process (evaluate.mjs).

Test-only: the evaluator is AGPL-3.0 and runs as a separate program; nothing here is imported by the orchard
package, a Lambda function or the job image (docs/iam-check.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchard.local.template import ACCOUNT_ID

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "evaluate.mjs"
PACKAGE = HERE / "node_modules" / "@cloud-copilot" / "iam-simulate"
# Every AWS SDK call and EMRFS request goes over HTTPS (the bucket policy denies any other).
SECURE = {"aws:SecureTransport": "true"}


@dataclass(frozen=True)
class Request:
    """One authorization AWS makes: a role, an action on a resource, with its request context."""

    role: str  # logical id of the role in the template
    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    origin: str = ""  # the call or model step it stands for

    def key(self) -> str:
        return json.dumps([self.role, self.action, self.resource, dict(self.context)], sort_keys=True)


@dataclass(frozen=True)
class Use:
    """The part of a statement that allowed a request: its matching actions and resources."""

    policy: str
    statement: str  # the statement's Sid, or its 1-based index in the policy
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    request: Request
    decision: str  # Allowed, ImplicitlyDenied, ExplicitlyDenied or Error
    allowed_by: tuple[Use, ...]
    error: Any = None

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"

    def __str__(self) -> str:
        r = self.request
        context = f" {dict(r.context)}" if r.context else ""
        error = f" [{self.error}]" if self.error else ""
        return f"{self.decision}: {r.role} {r.action} {r.resource}{context} <- {r.origin}{error}"


@dataclass(frozen=True)
class Policies:
    """What the evaluator needs besides requests: each role's ARN and inline policies, bucket policies, and
    the other resource policies (a topic's, a KMS key's) by the ARN of their resource."""

    role_arns: Mapping[str, str]  # logical id -> ARN
    identity: Mapping[str, Sequence[Mapping[str, Any]]]  # logical id -> [{"name", "policy"}]
    buckets: Mapping[str, Mapping[str, Any]]  # bucket name -> its bucket policy
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # resource ARN -> its policy


class Evaluator:
    """One node process for a whole test session: each evaluate() is one batch (one line each way)."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not PACKAGE.is_dir():
            raise RuntimeError(f"the IAM check needs node and {PACKAGE}: run `make setup` (npm ci)")
        self.process = subprocess.Popen(
            [node, str(SCRIPT)], cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.lock = threading.Lock()

    def evaluate(self, policies: Policies, requests: Sequence[Request]) -> list[Decision]:
        unique = {request.key(): request for request in requests}
        batch = {
            "principals": {
                policies.role_arns[role]: list(policies.identity[role]) for role in policies.identity
            },
            "resourcePolicies": {**policies.buckets, **policies.resources},
            "requests": [self._wire(policies, r) for r in unique.values()],
        }
        assert self.process.stdin is not None and self.process.stdout is not None
        with self.lock:
            self.process.stdin.write(json.dumps(batch) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{SCRIPT.name} exited with {self.process.poll()}")
        answers = dict(zip(unique, json.loads(line)["results"], strict=True))
        return [self._decision(request, answers[request.key()]) for request in requests]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)

    @staticmethod
    def _wire(policies: Policies, request: Request) -> dict[str, Any]:
        parts = request.resource.split(":")
        s3 = request.resource.startswith("arn:aws:s3:::")
        bucket = parts[5].split("/", 1)[0] if s3 else None
        return {
            "principal": policies.role_arns[request.role],
            "action": request.action,
            "resource": request.resource,
            "account": parts[4] if len(parts) > 4 and parts[4] else ACCOUNT_ID,
            "context": {**SECURE, **request.context},
            "resourcePolicy": bucket if bucket in policies.buckets else Evaluator._own(policies, request),
        }

    @staticmethod
    def _own(policies: Policies, request: Request) -> str | None:
        return request.resource if request.resource in policies.resources else None

    @staticmethod
    def _decision(request: Request, answer: Mapping[str, Any]) -> Decision:
        uses = tuple(
            Use(u["policy"], str(u["statement"]), tuple(u["actions"]), tuple(u["resources"]))
            for u in answer.get("allowedBy", [])
        )
        return Decision(request, answer["decision"], uses, answer.get("error"))
