"""One local session: deploy the stack (restoring saved state), upload a folder, run the flow, save state."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchard.local.executions import StateVisit, history, visits, wait_for
from orchard.local.flow import drain_queue, upload_images
from orchard.local.stack import LocalStack
from orchard.local.state import restore, save


@dataclass(frozen=True)
class Execution:
    run_id: str
    arn: str
    status: str
    error: str | None
    cause: str | None
    states: list[StateVisit]
    started: bool  # False when the trigger found the execution already started (a redelivered batch)


@contextmanager
def local_stack(
    state_dir: Path,
    parameters: Mapping[str, str] | None = None,
    *,
    fresh: bool = False,
    cores: int = 2,
    echo: bool = True,
) -> Iterator[LocalStack]:
    """A deployed local stack holding the saved state of state_dir (none when fresh).

    The template parameters given to a fresh stack are kept with its state: later sessions deploy the same."""
    if fresh and state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    saved = state_dir / "parameters.json"
    if fresh or not saved.exists():
        saved.write_text(json.dumps(dict(parameters or {}), indent=2))
    deployed = {**json.loads(saved.read_text()), **(parameters or {})}
    with LocalStack(state_dir.resolve(), deployed, cores=cores, echo=echo) as stack:
        stack.deploy()
        restore(stack)
        stack.connect_notifications()
        stack.bind_functions()
        yield stack


def run_pending(stack: LocalStack) -> list[Execution]:
    """Deliver what the queue holds to the trigger and wait for the executions it starts; then save."""
    executions = run_queued(stack)
    save(stack)
    return executions


def run_queued(stack: LocalStack) -> list[Execution]:
    """``run_pending`` without the save (``orchard year`` times the local state's copy apart)."""
    executions = []
    for response in drain_queue(stack):
        run: dict[str, Any] | None = response.get("run")
        if run is None:
            continue
        described = wait_for(stack, run["execution_arn"])
        executions.append(
            Execution(
                run_id=run["execution_name"],
                arn=run["execution_arn"],
                status=described["status"],
                error=described.get("error"),
                cause=described.get("cause"),
                states=visits(history(stack, run["execution_arn"])),
                started=run["started"],
            )
        )
    return executions


def upload_and_run(stack: LocalStack, images: Path) -> tuple[int, list[Execution]]:
    keys = upload_images(stack, images)
    return len(keys), run_pending(stack)
