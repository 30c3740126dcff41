"""A run's page: ``runs/run_id=<id>/report.html``, one self-contained HTML file the job writes.

What only later steps know (published or failed, cost) goes between the status markers: the job leaves a
placeholder there, the catalog step replaces it (functions/catalog/run_page_status.py).
"""

from __future__ import annotations

from orchard_contract.layout import RUNS_DATASET, run_path

RUN_PAGE_FILE = "report.html"
STATUS_BEGIN = "<!-- orchard:status -->"
STATUS_END = "<!-- /orchard:status -->"


def run_page_path(root: str, run_id: str) -> str:
    return run_path(root, RUNS_DATASET, run_id, RUN_PAGE_FILE)


def with_status(page: str, block: str) -> str:
    """The page with its status block replaced by ``block``; a page without the markers is returned as is."""
    start, end = page.find(STATUS_BEGIN), page.find(STATUS_END)
    if start < 0 or end < start:
        return page
    return page[: start + len(STATUS_BEGIN)] + block + page[end:]
