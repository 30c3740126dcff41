"""The run page's pictures: a PC1 x PC2 scatter (matplotlib PNG) and small JPEG thumbnails, as data: URIs."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageOps

THUMBNAIL_PX = 48
THUMBNAIL_QUALITY = 70
SCATTER_POINTS = 4000  # sampled beyond this: the PNG's size and drawing time stay flat at any scale
LEGEND_LABELS = 20  # tab20 has 20 colours: more labels share colours and get no legend


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_jpeg(content: bytes) -> bytes | None:
    """A JPEG at most THUMBNAIL_PX on its longer side, upright (EXIF); None if the bytes no longer decode."""
    try:
        with Image.open(io.BytesIO(content)) as opened:
            picture = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return buffer.getvalue()


def scatter_sample(rows: int, seed: int, limit: int = SCATTER_POINTS) -> np.ndarray:
    if rows <= limit:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def scatter_png(vectors: np.ndarray, labels: np.ndarray, seed: int) -> bytes:
    """PC1 against PC2, one colour per label (cycling tab20), a seeded sample of the rows at scale."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the same backend as the scree plot's (report.py)
    import matplotlib.pyplot as plt

    shown = scatter_sample(len(labels), seed)
    names = sorted(set(labels.tolist()))
    palette = plt.get_cmap("tab20")  # pairs of a dark and a light shade: the dark ones first
    colours = [palette(i) for i in (*range(0, 20, 2), *range(1, 20, 2))]
    size = 24 if len(shown) < 500 else 8
    figure, axis = plt.subplots(figsize=(7, 5), dpi=100)
    for index, name in enumerate(names):
        mine = shown[labels[shown] == name]
        colour = colours[index % len(colours)]
        axis.scatter(
            vectors[mine, 0], vectors[mine, 1], s=size, alpha=0.8, color=colour, label=name, linewidths=0
        )
    axis.set_xlabel("PC1")
    axis.set_ylabel("PC2")
    sampled = (
        f"{len(shown):,} of {len(labels):,} images" if len(shown) < len(labels) else f"{len(labels):,} images"
    )
    axis.set_title(f"PC1 x PC2 by label ({sampled}, {len(names)} labels)")
    if len(names) <= LEGEND_LABELS:
        axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False, markerscale=1.5)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
