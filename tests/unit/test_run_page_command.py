"""`orchard report`: the local page (latest by default), a presigned URL on AWS, one line on mistakes."""

from __future__ import annotations

import json
import os
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests
from deploy_support import REGION, moto_account

from orchard import run_page_command, stacks
from orchard.cli import main
from orchard.local.state import bucket_dir, catalog_path
from orchard_contract.run_page import run_page_path

OLDER = "orchard-20250314T092655Z-00000000000000000000000000000001"
NEWER = "orchard-20250315T101500Z-00000000000000000000000000000002"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local stack's saved state with two run pages (and no browser: nothing may open)."""
    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: pytest.fail("a browser was opened"))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    state = tmp_path / "local"
    state.mkdir()
    catalog_path(state).write_text(json.dumps({"bucket": "orchard-local", "tables": []}))
    for run_id in (NEWER, OLDER):  # the newer written first: latest is by the run id's time
        page = bucket_dir(state, "orchard-local") / run_page_path("results", run_id)
        page.parent.mkdir(parents=True)
        page.write_text(f"<html>{run_id}</html>")
    return state


def test_the_latest_page_by_default_and_a_named_one(state: Path, capsys) -> None:
    assert main(["report", "--state", str(state)]) == 0
    latest = Path(capsys.readouterr().out.strip())
    assert latest.is_absolute() and latest.read_text() == f"<html>{NEWER}</html>"
    assert main(["report", OLDER, "--state", str(state)]) == 0
    assert Path(capsys.readouterr().out.strip()).read_text() == f"<html>{OLDER}</html>"


def test_an_unknown_run_or_no_state_is_one_line(state: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", "no-such-run", "--state", str(state)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no page for run no-such-run" in err and NEWER in err
    assert main(["report", "--state", str(tmp_path / "nothing")]) == 2
    assert "run `orchard demo` first" in capsys.readouterr().err


def test_a_browser_opens_only_where_one_can_show_the_page(state: Path, monkeypatch) -> None:
    assert not run_page_command.can_show_browser() or os.name == "nt"
    opened: list[str] = []
    monkeypatch.setattr(run_page_command, "can_show_browser", lambda: True)
    monkeypatch.setattr(webbrowser, "open", opened.append)
    main(["report", "--state", str(state)])
    main(["report", "--state", str(state), "--no-open"])
    assert len(opened) == 1 and opened[0].startswith("file://") and NEWER in opened[0]


def test_on_aws_a_presigned_url_of_the_page(monkeypatch, capsys) -> None:
    with moto_account(monkeypatch) as session:
        s3 = session.client("s3")
        s3.create_bucket(Bucket="orchard-bucket")
        s3.put_object(Bucket="orchard-bucket", Key=run_page_path("results", NEWER), Body=b"<html>page</html>")
        deployment = stacks.Deployment("prod", {"ResultsLocation": "s3://orchard-bucket/results"})
        monkeypatch.setattr(stacks, "orchard_stack", lambda cloudformation, name: deployment)
        assert main(["report", NEWER, "--stack", "prod", "--region", REGION]) == 0
        url = capsys.readouterr().out.strip()
        parsed = urlparse(url)
        assert unquote(parsed.path).endswith(run_page_path("results", NEWER))
        assert parse_qs(parsed.query)["X-Amz-Expires"] == [str(run_page_command.LINK_SECONDS)]
        assert requests.get(url, timeout=10).content == b"<html>page</html>"
        assert main(["report", OLDER, "--stack", "prod", "--region", REGION]) == 2
        assert f"no page for run {OLDER} in stack prod" in capsys.readouterr().err
        assert main(["report", "--stack", "prod", "--region", REGION]) == 2
        assert "give the run id" in capsys.readouterr().err
