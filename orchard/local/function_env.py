"""A local function's environment variables, seen by the thread that runs it and by no other.

The handlers run in-process on the interpreter's threads, as other threads read the environment: writing a
function's variables into os.environ for an invocation shows them to every thread, and taking them out again
breaks a reader iterating os.environ meanwhile (the standard library does, looking for proxies whenever a
client is made: KeyError, a States.Runtime in some other execution). So os.environ becomes a view: the running
function's variables over the process's own, which nothing here adds to or removes from.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_function_variables: ContextVar[dict[str, str] | None] = ContextVar("function_variables", default=None)


def _variables() -> dict[str, str]:
    return _function_variables.get() or {}


class FunctionEnviron(os._Environ[str]):
    """os.environ with the running function's variables first; sharing the process's data, so every other
    reader and writer (os.putenv included) keeps working on the process's environment."""

    def __getitem__(self, key: str) -> str:
        variables = _variables()
        return variables[key] if key in variables else super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        variables = _variables()
        if key in variables:
            variables[key] = value
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        variables = _variables()
        if key in variables:
            del variables[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        variables = _variables()
        yield from list(variables)
        yield from (key for key in super().__iter__() if key not in variables)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def install() -> None:
    """Make os.environ the view (once per process; with no function running it is the process's own)."""
    if not isinstance(os.environ, FunctionEnviron):
        current = os.environ
        os.environ = FunctionEnviron(  # noqa: B003 - a view on the same data, nothing to clear
            current._data,  # type: ignore[attr-defined]
            current.encodekey,
            current.decodekey,
            current.encodevalue,
            current.decodevalue,
        )


@contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """The function's variables in os.environ, for the calling thread, until the block ends."""
    install()
    token = _function_variables.set(dict(variables))
    try:
        yield
    finally:
        _function_variables.reset(token)


@contextmanager
def process_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Variables for the whole process (set before its threads start), the previous values back after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
