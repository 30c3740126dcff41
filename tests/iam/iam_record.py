"""Records the AWS calls a local flow makes, each attributed to the component whose role AWS would use.

- A Lambda handler's calls: while ``orchard.local.invoke.running_function`` names a function of the template,
  every botocore call in that thread is the function's (handlers make their own boto3 sessions).
- The state machine's calls: moto's interpreter makes its SDK-integration calls (``lambda:invoke``,
  ``aws-sdk:emrserverless:getJobRun``, ...) through boto3's default session; a hook there records them.
- What a handler's call makes AWS authorize besides it: the KMS calls SNS makes with the publisher's
  credentials for a topic encrypted with a KMS key, and the GetObject a presigned URL stands for (made without
  a call, authorized when it is used).
- Nothing else is any role's: the test harness (uploads, the event source mapping's polling, which Lambda's
  service does with the function's role: derived in iam_derived), and the local job runner that stands in for
  the EMR task (the task's own calls are derived from its Parameters; the job's S3 requests are modelled).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.signers
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
        if caller is None or caller not in functions:
            return original(client, operation, params)
        service = client.meta.service_model.service_name
        try:
            result = original(client, operation, params)
        except ClientError as e:
            calls.append(Call(caller, service, operation, dict(params), e.response["Error"]["Code"]))
            raise
        calls.append(Call(caller, service, operation, dict(params)))
        if (service, operation) == ("sns", "Publish"):
            calls.extend(encryption_calls(client, caller, params, original))
        return result

    def presign(client: BaseClient, method: str, Params: Any = None, **kwargs: Any) -> Any:  # noqa: N803
        caller = running_function.get()
        if caller in functions:
            operation = client.meta.method_to_api_mapping[method]
            origin = f"{caller}: presigned {operation}"
            service = client.meta.service_model.service_name
            calls.append(Call(caller, service, operation, dict(Params or {}), origin=origin))
        return signing(client, method, Params, **kwargs)

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
    signing = botocore.signers.generate_presigned_url
    botocore.signers.generate_presigned_url = presign  # what clients made from now on take as their method
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original
        botocore.signers.generate_presigned_url = signing
        events.unregister("before-parameter-build", unique_id=HOOK_ID)


def encryption_calls(client: BaseClient, caller: str, params: dict[str, Any], original: Any) -> list[Call]:
    """SNS encrypts a message for an encrypted topic with the publisher's credentials: GenerateDataKey and
    Decrypt on the topic's key (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html)."""
    attributes = original(client, "GetTopicAttributes", {"TopicArn": params["TopicArn"]})["Attributes"]
    key = attributes.get("KmsMasterKeyId")
    if not key:
        return []
    origin = f"{caller}: sns.Publish to a topic encrypted with {key}"
    return [Call(caller, "kms", op, {"KeyId": key}, origin=origin) for op in ("GenerateDataKey", "Decrypt")]
