"""spark/Dockerfile read and replayed the way Docker reads it, for the image tests (no Docker engine here).

`instructions` parses the file (continuation lines, comments); `replay` runs the build stage on this machine:
ARG and ENV as Docker sets them, COPY from the build context honouring .dockerignore, RUN through bash (the
base image's /bin/sh). The unit tests check properties of the parsed file; the rehearsal replays it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "spark" / "Dockerfile"
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # FROM, ARG, ENV, COPY, RUN, USER ...
    value: str  # the rest, continuation lines joined


def instructions(text: str | None = None) -> list[Instruction]:
    text = DOCKERFILE.read_text() if text is None else text
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n", " ", "\n".join(lines))
    parsed = [line.strip().split(None, 1) for line in logical.splitlines() if line.strip()]
    return [Instruction(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in parsed]


def assignments(value: str) -> dict[str, str | None]:
    """ARG/ENV `NAME=value` pairs (quotes removed); a bare ARG NAME has no default."""
    pairs = [word.split("=", 1) for word in shlex.split(value)]
    return {pair[0]: pair[1] if len(pair) == 2 else None for pair in pairs}


def expand(text: str, values: Mapping[str, str]) -> str:
    """Docker's $NAME / ${NAME} substitution (FROM, ENV, COPY); unknown names become empty."""
    return VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def base_images(steps: list[Instruction] | None = None) -> list[str]:
    """Every FROM's image, with the ARGs declared before it at their defaults."""
    steps = instructions() if steps is None else steps
    args: dict[str, str] = {}
    images = []
    for step in steps:
        if step.keyword == "ARG":
            args.update({k: expand(v or "", args) for k, v in assignments(step.value).items()})
        elif step.keyword == "FROM":
            images.append(expand(step.value.split()[0], args))
    return images


def stage_values(steps: list[Instruction] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The build stage's ARG defaults and ENV values (after the last FROM), as the build sees them."""
    result = replay(Path("/nonexistent"), Path("/nonexistent"), run=lambda *_: "", steps=steps, copy=False)
    return result.args, result.env


def ignore_patterns(context: Path = REPO) -> list[str]:
    lines = (context / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(regex)


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a folder above it decides; `!` re-includes."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        exclusion = pattern.startswith("!")
        regex = _pattern_regex(os.path.normpath(pattern.lstrip("!").lstrip("/")))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not exclusion
    return ignored


def copy_into(context: Path, sources: list[str], destination: str, replaced: Mapping[str, Path]) -> None:
    """COPY: a folder's contents go into the destination; files go into it when it is a folder (ends in /)."""
    patterns = ignore_patterns(context)
    for source in sources:
        root = context / source
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            relative = file.relative_to(context).as_posix()
            if is_ignored(relative, patterns):
                continue
            if root.is_dir():
                target = Path(destination, file.relative_to(root))
            else:
                target = Path(destination, file.name) if destination.endswith("/") else Path(destination)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(replaced.get(relative, file), target)


@dataclass
class Replayed:
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # the image's ENV at the end of the build
    skipped: list[str] = field(default_factory=list)
    output: str = ""  # what the RUN steps printed


def replay(
    context: Path,
    workdir: Path,
    run: Callable[[str, dict[str, str], Path], str],
    overrides: Mapping[str, str] | None = None,
    replaced: Mapping[str, Path] | None = None,
    skip: Callable[[str], bool] = lambda _: False,
    steps: list[Instruction] | None = None,
    copy: bool = True,
) -> Replayed:
    """Run the last stage's steps in order. `overrides` replaces ARG or ENV values (build args, and the
    paths the rehearsal moves); `replaced` substitutes context files; `skip` names RUN steps not run."""
    steps = instructions() if steps is None else steps
    overrides = overrides or {}
    start = max(i for i, step in enumerate(steps) if step.keyword == "FROM")
    state = Replayed()
    for step in steps[start + 1 :]:
        values = {**state.args, **state.env}
        if step.keyword in ("ARG", "ENV"):
            target = state.args if step.keyword == "ARG" else state.env
            for name, value in assignments(step.value).items():
                target[name] = overrides.get(name, expand(value or "", values))
        elif step.keyword == "COPY" and copy:
            *sources, destination = expand(step.value, values).split()
            copy_into(context, sources, destination, replaced or {})
        elif step.keyword == "RUN":
            if skip(step.value):
                state.skipped.append(step.value)
            else:
                state.output += run(step.value, values, workdir)
    return state


def run_step(base_env: Mapping[str, str]) -> Callable[[str, dict[str, str], Path], str]:
    """A RUN executor: bash -c with the build's ARG/ENV values over `base_env`; fails with the output."""

    def execute(command: str, values: dict[str, str], workdir: Path) -> str:
        env = {**base_env, **values}
        done = subprocess.run(
            ["bash", "-c", command], env=env, cwd=workdir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            output = f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
            raise AssertionError(f"RUN {command}\nexit {done.returncode}\n{output}")
        return done.stdout + done.stderr

    return execute
