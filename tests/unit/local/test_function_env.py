"""A local function's environment is its own: the thread running it sees its variables, other threads never
see them come or go (a reader iterating os.environ meanwhile once failed another execution's task)."""

from __future__ import annotations

import os
import threading
from typing import Any

from orchard.local.invoke import Functions

PROBE = "ORCHARD_TEST_PROBE"


def test_a_function_sees_its_variables_and_other_threads_never_do() -> None:
    seen_by_function: list[tuple[str | None, str | None, bool]] = []

    def handler(_event: dict[str, Any], _context: Any) -> None:
        seen_by_function.append((os.environ.get(PROBE), os.getenv(PROBE), PROBE in dict(os.environ)))

    functions = Functions()
    functions.add("probe", handler, {PROBE: "mine"})
    invoking = threading.Event()
    leaks: list[str] = []

    def read_environment() -> None:
        while invoking.is_set():
            if PROBE in dict(os.environ.items()):
                leaks.append("seen")

    invoking.set()
    reader = threading.Thread(target=read_environment)
    reader.start()
    try:
        for _ in range(2_000):
            functions.invoke("probe", {})
    finally:
        invoking.clear()
        reader.join()

    assert seen_by_function == [("mine", "mine", True)] * 2_000
    assert not leaks, f"another thread saw the function's variable {len(leaks)} times"
    assert PROBE not in os.environ


def test_a_function_may_change_its_variables_for_its_invocation_only() -> None:
    def handler(_event: dict[str, Any], _context: Any) -> str:
        before = os.environ[PROBE]
        os.environ[PROBE] = "changed"
        return f"{before}->{os.environ[PROBE]}"

    functions = Functions()
    functions.add("probe", handler, {PROBE: "mine"})

    assert [functions.invoke("probe", {}) for _ in range(2)] == ["mine->changed"] * 2
    assert PROBE not in os.environ
