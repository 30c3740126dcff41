"""`orchard report [RUN_ID]`: a run's page (runs/run_id=<id>/report.html, written by the job).

Locally it prints the page's path in the local stack's saved bucket (the latest run's by default) and opens it
where a browser can show it (a display, or macOS/Windows; never with --no-open). With ``--stack NAME`` it
prints a presigned HTTPS URL of the page in that stack's bucket (the caller's credentials).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import webbrowser
from pathlib import Path

from orchard import stacks
from orchard.errors import UserError
from orchard.local.state import DEFAULT_STATE_DIR, bucket_dir, catalog_path
from orchard_contract.layout import RUNS_DATASET, S3Uri, run_id_of_folder
from orchard_contract.run_page import RUN_PAGE_FILE, run_page_path
from orchard_contract.times import run_id_time

LINK_SECONDS = 24 * 3600  # a link lives no longer than the credentials that signed it


def add_report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", nargs="?", help="the run (default, locally: the latest with a page)")
    parser.add_argument("--stack", help="a deployed stack: print a presigned URL of the page (needs RUN_ID)")
    parser.add_argument("--region", help="the stack's region (default: the configured one)")
    parser.add_argument(
        "--state", type=Path, default=DEFAULT_STATE_DIR, help="the local stack's state folder"
    )
    parser.add_argument("--no-open", action="store_true", help="print the path only, open no browser")


def report_command(args: argparse.Namespace) -> int:
    """A mistake (no such run, no stack) is a UserError: one line on stderr (orchard.cli.main)."""
    if args.stack and not stacks.is_local(args.stack):
        print(presigned_page(args.stack, args.region, args.run_id))
        return 0
    page = local_page(args.state, args.run_id)
    print(page)
    if not args.no_open and can_show_browser():
        webbrowser.open(page.as_uri())
    return 0


def print_latest_page(state: Path) -> None:
    """The end of `orchard demo`: where the latest run's page is."""
    try:
        page = local_page(state, None)
    except UserError as e:
        print(f"\nNo run page: {e}")
        return
    print(f"\nRun page: {page}\n  (open it in a browser, or: orchard report [RUN_ID])")


def local_pages(state: Path) -> dict[str, Path]:
    """run id -> page, for every run page in the local stack's saved bucket."""
    if not catalog_path(state).exists():
        raise UserError(f"no local stack state under {state}: run `orchard demo` first")
    root = bucket_dir(state, _saved_bucket(state))
    pages = {}
    for page in root.glob(f"**/{RUNS_DATASET}/run_id=*/{RUN_PAGE_FILE}"):
        run_id = run_id_of_folder(page.parent.name)
        if run_id is not None:
            pages[run_id] = page.resolve()
    return pages


def local_page(state: Path, run_id: str | None) -> Path:
    pages = local_pages(state)
    if not pages:
        raise UserError(f"no run page under {state}: the local stack has no run with a page yet")
    if run_id is None:
        return pages[max(pages, key=lambda run: (_sort_time(run), pages[run].stat().st_mtime, run))]
    if run_id not in pages:
        known = ", ".join(sorted(pages)[-5:])
        raise UserError(f"no page for run {run_id} in the local stack (runs with a page: {known})")
    return pages[run_id]


def _saved_bucket(state: Path) -> str:
    return str(json.loads(catalog_path(state).read_text())["bucket"])


def _sort_time(run_id: str) -> float:
    moment = run_id_time(run_id)
    return moment.timestamp() if moment is not None else 0.0


def presigned_page(stack: str, region: str | None, run_id: str | None) -> str:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    if not run_id:
        raise UserError("give the run id: orchard report RUN_ID --stack NAME")
    session = stacks.session(region)
    deployment = stacks.orchard_stack(session.client("cloudformation"), stack)
    results = S3Uri.parse(deployment.outputs["ResultsLocation"])
    s3 = session.client("s3", config=Config(signature_version="s3v4"))  # SigV4: session credentials sign too
    key = run_page_path(results.key, run_id)
    try:
        s3.head_object(Bucket=results.bucket, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise UserError(f"no page for run {run_id} in stack {stack} (s3://{results.bucket}/{key})") from e
        raise UserError(f"cannot read s3://{results.bucket}/{key}: {e}") from e
    params = {"Bucket": results.bucket, "Key": key}
    return str(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=LINK_SECONDS))


def can_show_browser() -> bool:
    """A browser can show the page: a graphical session (or macOS/Windows) and a browser webbrowser knows."""
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    graphical = sys.platform in ("darwin", "win32") or bool(display)
    if not graphical:
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True
