"""The run page the job writes: there, self-contained, true to the run's tables, and sound in a real browser
(Debian's headless chromium: no error while loading, nothing fetched, the plots drawn)."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from headless import INSTALL, chromium, drawn_share, load, screenshot
from PIL import Image

from orchard.samples import CORRUPT_NAME, write_samples
from orchard_job.config import parse_args
from orchard_job.job import run
from orchard_job.run_page_figures import data_uri

pytestmark = pytest.mark.slow

LINK_OUT = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|<script[^>]*\ssrc|url\(\s*["']?https?:""", re.I
)


@pytest.fixture(scope="module")
def page_run(tmp_path_factory: pytest.TempPathFactory, spark) -> tuple[dict, Path]:
    images, out = tmp_path_factory.mktemp("images"), tmp_path_factory.mktemp("out")
    write_samples(images, per_label=8, n_labels=4)
    (images / "stray.jpg").write_bytes(b"no label folder")
    args = ["--input", str(images), "--output", str(out), "--run-id", "r1", "--weights", "random"]
    report = run(spark, parse_args([*args, "--image-size", "96", "--k", "6"]))
    return report, out


def test_page_is_written_self_contained_and_true_to_the_tables(page_run: tuple[dict, Path]) -> None:
    report, out = page_run
    page_file = out / "runs" / "run_id=r1" / "report.html"
    assert report["outputs"]["page"].endswith("runs/run_id=r1/report.html") and page_file.exists()
    assert json.loads((out / "runs" / "run_id=r1" / "report.json").read_text())["timings"]["run_page"] > 0
    page = page_file.read_text(encoding="utf-8")
    assert not LINK_OUT.search(page) and "<script" not in page
    assert all(value.startswith("data:") for value in re.findall(r'src="([^"]*)"', page))

    pca = pq.read_table(out / "pca" / "run_id=r1").to_pydict()
    for label, images in Counter(pca["label"]).items():
        assert f'<tr><td>{label}</td><td class="n">{images:,}</td>' in page
    assert "listed 34 = in_pca 32 + rejected 2" in page
    rejects = pq.read_table(out / "rejects" / "run_id=r1").to_pydict()
    for reason in set(rejects["reason"]):
        assert reason.replace("'", "&#x27;") in page
    shown = re.findall(r'<img class="thumb" src="data:image/jpeg;base64,[^"]+" alt="([^"]+)"', page)
    assert len(shown) == 4 * 3 and CORRUPT_NAME not in " ".join(shown)  # rejects are never decoded again
    assert {name.split("/")[0] for name in shown} == set(pca["label"])

    rows = sorted(zip(pca["path"], pca["label"], pca["pca"], strict=True))
    agreement = brute_force_agreement([row[2] for row in rows], [row[1] for row in rows])
    assert f"<b>{agreement:.1%}</b> of 32 query images" in page


def brute_force_agreement(vectors: list[list[float]], labels: list[str]) -> float:
    """Every row a query (32 < 5,000): its 5 nearest others by math.dist, ties to the lower row (rows in
    path order, as the page orders them)."""
    hits = 0
    for q in range(len(labels)):
        ranked = sorted((math.dist(vectors[q], vectors[j]), j) for j in range(len(labels)) if j != q)
        near = [labels[j] for _, j in ranked[:5]]
        counts = Counter(near)
        hits += min(counts, key=lambda label: (-counts[label], near.index(label))) == labels[q]
    return hits / len(labels)


def test_page_in_headless_chromium(page_run: tuple[dict, Path], tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.fail(INSTALL)
    chromium()
    _, out = page_run
    page = out / "runs" / "run_id=r1" / "report.html"
    loaded = load(page, tmp_path)
    assert loaded.errors == [] and loaded.fetched == []
    assert {plot["id"] for plot in loaded.plots} == {"scree", "scatter"}
    assert all(plot["loaded"] and plot["w"] > 300 and plot["h"] > 200 for plot in loaded.plots)
    picture = screenshot(page, tmp_path / "page.png", loaded.height)
    for plot in loaded.plots:
        assert drawn_share(picture, plot) > 0.01, plot["id"]


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (700, 400), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_browser_check_can_fail(page_run: tuple[dict, Path], tmp_path: Path) -> None:
    """The same checks on broken copies: a script error, a fetched image, a blank plot are each caught."""
    _, out = page_run
    html = (out / "runs" / "run_id=r1" / "report.html").read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(
        html.replace("</body>", "<script>undefinedFunction()</script></body>"), encoding="utf-8"
    )
    assert any("undefinedFunction" in error for error in load(broken, tmp_path).errors)
    (tmp_path / "present.png").write_bytes(blank_png())
    fetching = tmp_path / "fetching.html"
    fetching.write_text(html.replace("</body>", '<img src="present.png"></body>'), encoding="utf-8")
    assert [name.rsplit("/", 1)[-1] for name in load(fetching, tmp_path).fetched] == ["present.png"]
    missing = tmp_path / "missing.html"
    missing.write_text(html.replace("</body>", '<img src="missing.png"></body>'), encoding="utf-8")
    assert ["missing.png" in error for error in load(missing, tmp_path).errors] == [True]
    blank = tmp_path / "blank.html"
    white = data_uri(blank_png(), "image/png")
    blank.write_text(re.sub(r'(id="scree" src=")[^"]+', rf"\g<1>{white}", html), encoding="utf-8")
    loaded = load(blank, tmp_path)
    scree = next(plot for plot in loaded.plots if plot["id"] == "scree")
    assert drawn_share(screenshot(blank, tmp_path / "blank.png", loaded.height), scree) < 0.001
