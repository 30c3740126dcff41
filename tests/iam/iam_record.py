"""Records the AWS calls a local flow makes, each attributed to the component whose role AWS would use.

- A Lambda handler's calls: while ``orchard.local.invoke.running_function`` names a function of the template,
  every botocore call in that thread is the function's (handlers make their own boto3 sessions).
- The state machine's calls: moto's interpreter makes its SDK-integration calls (``lambda:invoke``,
  ``aws-sdk:emrserverless:getJobRun``, ...) through boto3's default session; a hook there records them.
- Nothing else is any role's: the test harness (uploads, the event source mapping's polling, which Lambda's
  service does with the function's role: derived in iam_derived), and the local job runner that stands in for
  the EMR task (the task's own calls are derived from its Parameters; the job's S3 requests are modelled).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from iam_calls import Call
from iam_roles import STATE_MACHINE

from orchard.local.invoke import running_function

HOOK_ID = "orchard-iam-record"


@contextmanager
def recording(functions: Collection[str], rebound: Collection[str]) -> Iterator[list[Call]]:
    """Calls of the named functions and of the state machine; `rebound`: function ARNs the interpreter calls
    only because the local deploy rebound a task to them (their Invoke is not the state machine's on AWS)."""
    calls: list[Call] = []
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        caller = running_function.get()
        if caller not in functions:
            return original(client, operation, params)
        service = client.meta.service_model.service_name
        try:
            result = original(client, operation, params)
        except ClientError as e:
            calls.append(Call(caller, service, operation, dict(params), e.response["Error"]["Code"]))
            raise
        calls.append(Call(caller, service, operation, dict(params)))
        return result

    def interpreter_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        if running_function.get() is not None:
            return  # inside a local function: its calls are recorded above
        if model.name == "Invoke" and params.get("FunctionName") in rebound:
            return
        calls.append(Call(STATE_MACHINE, model.service_model.service_name, model.name, dict(params)))

    assert boto3.DEFAULT_SESSION is not None, "start the local stack first"
    events = boto3.DEFAULT_SESSION.events
    events.register_last("before-parameter-build", interpreter_call, unique_id=HOOK_ID)
    BaseClient._make_api_call = make_api_call
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original
        events.unregister("before-parameter-build", unique_id=HOOK_ID)
