"""The `orchard` subcommands that talk to a deployed stack: `aws-check`, `aws-teardown` (flags, entry points).

Both take ``--stack`` (``orchard.stacks``); the local stack's modules (moto) are imported only for
``--stack local``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from orchard import stacks
from orchard.aws_check import Check, Limits
from orchard.local.state import DEFAULT_STATE_DIR, catalog_path

JAVA_MISSING = (
    "Spark needs Java 17 for the local stack's job (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)."
)


def add_check_flags(parser: argparse.ArgumentParser) -> None:
    stacks.add_stack_flags(parser)
    limits = Limits()
    parser.add_argument("--start-timeout", type=float, default=limits.start_seconds,
                        help="seconds for the check's run to start (batching window included)")  # fmt: skip
    parser.add_argument("--run-timeout", type=float, default=limits.run_seconds,
                        help="seconds for each execution to end (EMR cold start included)")  # fmt: skip
    parser.add_argument(
        "--state", type=Path, default=DEFAULT_STATE_DIR, help="the local stack's state folder"
    )
    parser.add_argument("--cores", type=int, default=2, help="local Spark cores (local stack only)")


def add_teardown_flags(parser: argparse.ArgumentParser) -> None:
    stacks.add_stack_flags(parser)
    parser.add_argument(
        "--yes", action="store_true", help="really delete (without it, only say what would go)"
    )
    parser.add_argument(
        "--wait-minutes", type=int, default=60, help="how long to wait for the stack deletion"
    )


def aws_check(args: argparse.Namespace) -> int:
    limits = Limits(start_seconds=args.start_timeout, run_seconds=args.run_timeout)
    if stacks.is_local(args.stack):
        return local_check(args.state, limits, args.cores)
    from orchard.check_edges import AwsEdge

    session = stacks.session(args.region)
    try:
        deployment = stacks.orchard_stack(session.client("cloudformation"), args.stack)
    except stacks.StackNotFoundError as e:
        print(f"aws-check: {e}", file=sys.stderr)
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return Check(AwsEdge(deployment, session), limits).run()
    except (BotoCoreError, ClientError) as e:  # before anything was uploaded (steps catch their own)
        print(f"aws-check: {e}", file=sys.stderr)
        return 1


def local_check(state: Path, limits: Limits, cores: int) -> int:
    if not catalog_path(state).exists():
        print(f"aws-check: no local stack state under {state}: run `orchard demo` first", file=sys.stderr)
        return 2
    if shutil.which("java") is None:
        print(f"aws-check: {JAVA_MISSING}", file=sys.stderr)
        return 2
    from orchard.local.check_edge import local_edge

    with local_edge(state, cores=cores, echo=False) as edge:
        return Check(edge, limits).run()


def aws_teardown(args: argparse.Namespace) -> int:
    from orchard.teardown import plan, teardown

    if stacks.is_local(args.stack):
        print(
            f"aws-teardown: the local stack is a folder: delete {DEFAULT_STATE_DIR} (or your --state)",
            file=sys.stderr,
        )
        return 2
    session = stacks.session(args.region)
    try:
        deployment = plan(session.client("cloudformation"), args.stack)
    except stacks.StackNotFoundError as e:
        print(f"aws-teardown: {e}", file=sys.stderr)
        return 2
    if deployment is None:
        print(f"aws-teardown: no stack named {args.stack}: nothing to delete")
        return 0
    bucket = deployment.resources.get("Bucket", "(none)")
    if not args.yes:
        print(f"would delete stack {deployment.name} ({deployment.status}) and its retained bucket {bucket} "
              "with everything in it; add --yes to do it")  # fmt: skip
        return 2
    return 0 if teardown(session, deployment, wait_minutes=args.wait_minutes) else 1
