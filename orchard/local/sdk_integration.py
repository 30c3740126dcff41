"""What Step Functions' ``aws-sdk:emrserverless:*`` integration does on AWS and moto's interpreter does not.

On AWS the integration takes PascalCase parameter names (``ApplicationId``), answers with PascalCase keys
(``JobRun``) and JSON values (timestamps as text). moto's interpreter calls boto3 as given and passes
datetime objects on (which its own DescribeExecution cannot serialize). These handlers are registered only
on the session the interpreter uses (boto3's default session), so the definition stays as written and every
other client sees plain boto3.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

SERVICE = "emr-serverless"


def install(session: boto3.Session) -> None:
    session.events.register(f"before-parameter-build.{SERVICE}", _model_parameter_names)
    session.events.register(f"after-call.{SERVICE}", _pascal_case_json)


def _model_parameter_names(params: dict[str, Any], model: Any, **_: Any) -> None:
    members = {name.lower(): name for name in model.input_shape.members} if model.input_shape else {}
    for key in list(params):
        name = members.get(key.lower())
        if name and name != key:
            params[name] = params.pop(key)


def _pascal_case_json(parsed: dict[str, Any], **_: Any) -> None:
    converted = _convert({k: v for k, v in parsed.items() if k != "ResponseMetadata"})
    metadata = parsed.get("ResponseMetadata")
    parsed.clear()
    parsed.update(converted)
    if metadata is not None:
        parsed["ResponseMetadata"] = metadata


def _convert(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_convert(v) for v in value]
    return value
