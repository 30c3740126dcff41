"""The run page's builder without Spark: its content, that it is self-contained, and its size at scale."""

from __future__ import annotations

import io
import random
import re

import numpy as np
from PIL import Image

from orchard.samples import fruit_image
from orchard_contract.run_page import STATUS_BEGIN, STATUS_END, with_status
from orchard_contract.tables import COUNT_KEYS
from orchard_job.run_page import MAX_THUMBNAILS, sample_per_label
from orchard_job.run_page_figures import data_uri, scatter_png, thumbnail_jpeg
from orchard_job.run_page_html import PageData, RejectSummary, Thumbnail, counts_section, render
from orchard_job.run_page_knn import Agreement

LINK_OUT = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|<script[^>]*\ssrc|url\(\s*["']?https?:""", re.I
)


def report(labels: int, rows: int, rejected: int, *, random_weights: bool = True) -> dict:
    counts = dict(zip(COUNT_KEYS, (rows + rejected, rows, 0, rejected, rows), strict=True))
    return {
        "run_id": "2026-11-29T10-00-00Z-abc",
        "counts": counts,
        "k": 40,
        "variance_target": 0.9,
        "cumulative_variance": [0.5, 0.9],
        "weights": {"kind": "random" if random_weights else "imagenet", "random": random_weights},
        "model_id": "mobilenet_v2-96",
        "image_size": 96,
        "runtime": "tflite",
        "timings": {"list": 1.5, "featurize": 100.25, "total": 130.0},
        "versions": {"spark": "3.5.5"},
        "basis": {
            "basis_id": "b-1",
            "decision": "kept",
            "reason": "drift below threshold",
            "explained_now": 0.9,
            "explained_at_fit": 0.91,
        },
    }


def photo_like(seed: int) -> bytes:
    """A noisy picture: thumbnails of real photos compress worse than the samples' flat fruit."""
    rng = np.random.default_rng(seed)
    pixels = (np.linspace(0, 255, 100)[None, :, None] + rng.normal(0, 40, (100, 100, 3))).clip(0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def page_at(labels: int, rows: int, rejected: int) -> str:
    rng = np.random.default_rng(0)
    names = np.array([f"Label {i % labels}" for i in range(rows)], dtype=object)
    paths = np.array([f"s3://b/images/{name}/{i}.jpg" for i, name in enumerate(names)], dtype=object)
    vectors = rng.normal(size=(rows, 40)).astype(np.float32)
    chosen = sample_per_label(paths, names)
    thumbnails = {
        label: [Thumbnail(path, data_uri(thumbnail_jpeg(photo_like(i)) or b"", "image/jpeg"))
                for i, path in enumerate(picked)]
        for label, picked in chosen.items()
    }  # fmt: skip
    by_label = {label: (rows // labels // 10, 0.4) for label in set(names)}
    reasons = [(f"reason {i}", rejected // 5) for i in range(5)]
    listed = [(f"s3://b/images/x/{i}.jpg", "x", "corrupt or truncated") for i in range(100)]
    page = PageData(
        report=report(labels, rows, rejected),
        images_by_label={label: rows // labels for label in set(names)},
        rejects=RejectSummary(rejected, reasons, {"x": rejected}, listed),
        thumbnails=thumbnails,
        scree_uri=data_uri(b"\x89PNG scree", "image/png"),
        scatter_uri=data_uri(scatter_png(vectors, names, 0), "image/png"),
        agreement=Agreement(5000, rows, 5, 0.42, by_label, 0.01),
    )
    return render(page)


def test_page_at_90000_images_and_131_labels_stays_under_2_mb() -> None:
    page = page_at(131, 90_000, 2_000)
    assert len(page.encode()) < 2_000_000
    thumbs = re.findall(r'<img class="thumb" src="data:image/jpeg;base64,', page)
    assert len(thumbs) == 131 * 2 <= MAX_THUMBNAILS
    assert "... and 1,900 more" in page  # the rejects listed are bounded; the totals cover all
    assert not LINK_OUT.search(page) and "<script" not in page


def test_page_content() -> None:
    page = page_at(3, 300, 5)
    assert 'listed 305 = in_pca 300 + rejected 5: <span class="ok">holds</span>' in page
    assert page.count('class="thumb"') == 9  # three per label
    assert "<b>42.0%</b> of 5,000 query images" in page and "random weights" in page
    assert "basis: decision</td><td>kept" in page and "drift below threshold" in page
    assert 'id="scatter"' in page and 'id="scree"' in page
    assert 'featurize</td><td class="n">100.250' not in page  # timings are preformatted strings
    assert "<td>featurize</td><td>100.250</td>" in page


def test_broken_identity_is_flagged_and_status_is_replaceable() -> None:
    data = report(2, 20, 1)
    data["counts"]["listed"] = 99
    assert "BROKEN" in counts_section(data["counts"])
    page = page_at(2, 20, 1)
    replaced = with_status(page, "<p>published</p>")
    assert f"{STATUS_BEGIN}<p>published</p>{STATUS_END}" in replaced
    assert with_status(replaced, "<p>failed</p>").count(STATUS_BEGIN) == 1
    assert with_status("<html>no markers</html>", "x") == "<html>no markers</html>"


def test_thumbnail_sample_is_seeded_capped_and_per_label() -> None:
    names = np.array(["a"] * 10 + ["b"] * 1, dtype=object)
    paths = np.array([f"p{i}" for i in range(11)], dtype=object)
    first, again = sample_per_label(paths, names), sample_per_label(paths, names)
    assert first == again and len(first["a"]) == 3 and first["b"] == ["p10"]
    many = np.array([f"L{i}" for i in range(400)], dtype=object)
    assert sum(len(v) for v in sample_per_label(many, many).values()) == MAX_THUMBNAILS


def test_thumbnail_is_small_and_rejects_undecodable_bytes() -> None:
    jpeg = thumbnail_jpeg(photo_like(1))
    assert jpeg is not None and max(Image.open(io.BytesIO(jpeg)).size) == 48
    fruit = io.BytesIO()
    fruit_image("Banana", random.Random(0), 300).save(fruit, format="PNG")
    assert max(Image.open(io.BytesIO(thumbnail_jpeg(fruit.getvalue()) or b"")).size) == 48
    assert thumbnail_jpeg(b"not an image") is None


def test_a_run_without_images_or_components_still_has_a_page() -> None:
    data = report(0, 0, 0) | {"cumulative_variance": [], "k": 0}
    page = render(
        PageData(data, {}, RejectSummary(0, [], {}, []), {}, data_uri(b"png", "image/png"), None, None)
    )
    assert "Too few images or no components" in page and "No PC1 x PC2 scatter" in page
    assert "<h2>Rejects</h2><p>None.</p>" in page and "Labels (0)" in page
