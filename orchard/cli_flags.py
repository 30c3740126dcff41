"""The flags several `orchard` commands share: the local state folder, retention, and `orchard year`'s."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from orchard.local.state import DEFAULT_STATE_DIR

SOAK_STATE_DIR = Path(".orchard") / "soak"
YEAR_STATE_DIR = Path(".orchard") / "year"
# Run ids carry the wall-clock time of their uploads, so a simulated year lasts minutes: ten years of
# RetainDays leaves RetainRuns alone to retire runs (orchard/year.py).
YEAR_RETAIN_DAYS = 3650


def add_stack_flags(parser: argparse.ArgumentParser, state: Path = DEFAULT_STATE_DIR) -> None:
    parser.add_argument("--state", type=Path, default=state, help="local state folder (git-ignored)")
    parser.add_argument("--cores", type=int, default=2)


def add_retention_flags(parser: argparse.ArgumentParser) -> None:
    """The template's RetainRuns / RetainDays for this session's runs (default: the stack's, else 30 / 90)."""
    parser.add_argument("--retain-runs", type=template_number("RetainRuns"), metavar="N",
                        help="keep the history of the newest N validated runs")  # fmt: skip
    parser.add_argument("--retain-days", type=template_number("RetainDays"), metavar="N",
                        help="and of runs younger than N days")  # fmt: skip


def add_year_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=100, help="runs, the first uploading every image")
    parser.add_argument("--images", type=int, default=2_000, help="images uploaded by the first run")
    parser.add_argument("--retain-runs", type=template_number("RetainRuns"), default=10, metavar="R")
    parser.add_argument("--retain-days", type=template_number("RetainDays"), default=YEAR_RETAIN_DAYS,
                        metavar="D", help="default: ten years (a simulated year lasts minutes)")  # fmt: skip
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here (after every run)")
    add_stack_flags(parser, YEAR_STATE_DIR)


def template_number(parameter: str) -> Callable[[str], int]:
    """An argparse type: a whole number no lower than the template parameter's MinValue."""

    def parse(text: str) -> int:
        from orchard.local.template import load_template

        lowest = int(load_template()["Parameters"][parameter]["MinValue"])
        if not text.isdigit() or int(text) < lowest:
            raise argparse.ArgumentTypeError(f"{parameter} is a whole number of at least {lowest}")
        return int(text)

    return parse


def retention_parameters(args: argparse.Namespace) -> dict[str, str]:
    given = {"RetainRuns": args.retain_runs, "RetainDays": args.retain_days}
    return {name: str(value) for name, value in given.items() if value is not None}
