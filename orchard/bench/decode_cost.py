"""Decode cost per image size: the job's decoder (orchard_job.decode) on JPEGs from 100x100 to phone photos.

    python -m orchard.bench.decode_cost [IMAGE_SIZE]

Real photos are not 100x100: the scale model (docs/performance.md) takes the decode cost per megapixel from
here. Each image is a smooth gradient with noise (JPEG sizes like a photo's), encoded at quality 90.
"""

from __future__ import annotations

import io
import json
import sys
import time
from typing import Any

import numpy as np
from PIL import Image

from orchard_job.decode import decode_image

SIZES = [(100, 100), (640, 480), (1280, 960), (2016, 1512), (4032, 3024)]  # up to a 12 Mpx phone photo


def photo(width: int, height: int) -> bytes:
    rng = np.random.default_rng(width)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    pixels = np.clip(base + rng.normal(scale=12, size=base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main(size: int) -> list[dict[str, Any]]:
    figures = []
    for width, height in SIZES:
        data = photo(width, height)
        repeats = max(3, int(2e7 // (width * height)))
        decode_image(data, size)
        started = time.perf_counter()
        for _ in range(repeats):
            decode_image(data, size)
        ms = 1000 * (time.perf_counter() - started) / repeats
        megapixels = width * height / 1e6
        figures.append({"pixels": f"{width}x{height}", "megapixels": round(megapixels, 2),
                        "jpeg_kb": round(len(data) / 1024), "decode_ms": round(ms, 2),
                        "ms_per_megapixel": round(ms / megapixels, 2)})  # fmt: skip
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 224), indent=2))
