"""Two places where moto's Step Functions interpreter differs from AWS, filled at local stack start.

- ``$$.Execution.StartTime`` is an ISO 8601 string on AWS (moto's own type hint says so too); moto hands a
  datetime to the definition, which then breaks its own DescribeExecution once the value lands in the output.
- ``aws-sdk:emrserverless:*``: moto's sfn->boto service-name table knows only sfn/states.

Both patches are idempotent, touch no definition, and degrade to moto's behaviour if a moto upgrade moves
them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def apply() -> None:
    _start_time_as_text()
    _emr_serverless_service_name()


def _start_time_as_text() -> None:
    try:
        from moto.stepfunctions.parser.backend.execution import Execution
    except ImportError:
        return
    original = Execution.get_start_execution_details
    if getattr(original, "orchard_patched", False):
        return

    def get_start_execution_details(self: Any) -> Any:
        details = original(self)
        if isinstance(details.start_time, datetime):
            stamp = details.start_time.astimezone(UTC).isoformat(timespec="milliseconds")
            details.start_time = stamp.replace("+00:00", "Z")
        return details

    get_start_execution_details.orchard_patched = True  # type: ignore[attr-defined]
    Execution.get_start_execution_details = get_start_execution_details  # type: ignore[method-assign]


def _emr_serverless_service_name() -> None:
    try:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
    except ImportError:
        return
    overrides = getattr(state_task_service.StateTaskService, "_SERVICE_NAME_SFN_TO_BOTO_OVERRIDES", None)
    if isinstance(overrides, dict):
        overrides.setdefault("emrserverless", "emr-serverless")
