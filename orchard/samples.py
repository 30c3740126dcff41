"""Deterministic fruit-like sample images in label folders (Fruits-360 layout), plus one corrupt file."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

FRUITS = {
    "Apple Red": ((200, 30, 40), "round"),
    "Banana": ((235, 210, 60), "long"),
    "Lemon": ((245, 235, 80), "oval"),
    "Lime": ((90, 190, 60), "round"),
    "Orange": ((250, 150, 30), "round"),
    "Plum": ((110, 40, 110), "oval"),
    "Blueberry": ((60, 70, 160), "small"),
    "Kiwi": ((140, 110, 60), "oval"),
    "Pear": ((190, 200, 80), "pear"),
    "Cherry": ((150, 10, 30), "small"),
    "Grape White": ((200, 220, 150), "small"),
    "Avocado": ((60, 90, 40), "pear"),
}
CORRUPT_NAME = "corrupt_truncated.jpg"


def labels(count: int) -> list[str]:
    names = list(FRUITS)
    return [names[i] if i < len(names) else f"Fruit {i:02d}" for i in range(count)]


def fruit_image(label: str, rng: random.Random, size: int = 100) -> Image.Image:
    base, shape = FRUITS.get(label, ((rng.randrange(256), rng.randrange(256), rng.randrange(256)), "round"))
    background = tuple(255 - rng.randrange(30) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    color = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in base)
    cx, cy = size / 2 + rng.uniform(-10, 10), size / 2 + rng.uniform(-10, 10)
    half_w, half_h = {
        "round": (32, 32),
        "oval": (36, 26),
        "long": (44, 14),
        "small": (16, 16),
        "pear": (26, 34),
    }[shape]
    scale = rng.uniform(0.8, 1.15)
    box = (cx - half_w * scale, cy - half_h * scale, cx + half_w * scale, cy + half_h * scale)
    draw.ellipse(box, fill=color)
    highlight = tuple(min(255, c + 60) for c in color)
    draw.ellipse((cx - 8 * scale, cy - half_h * scale * 0.6, cx, cy - half_h * scale * 0.3), fill=highlight)
    draw.line((cx, box[1], cx + rng.uniform(-4, 4), box[1] - 8), fill=(90, 60, 20), width=3)
    return image.rotate(rng.uniform(-30, 30), fillcolor=background).filter(ImageFilter.SMOOTH)


def write_samples(
    root: Path, per_label: int, n_labels: int, seed: int = 7, corrupt: bool = True
) -> list[Path]:
    """Write `n_labels` x `per_label` JPEGs under root/<Label>/; returns the paths (corrupt one last)."""
    rng = random.Random(seed)
    written = []
    for label in labels(n_labels):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_label):
            path = folder / f"{index:04d}_100.jpg"
            fruit_image(label, rng).save(path, format="JPEG", quality=90)
            written.append(path)
    if corrupt:
        path = root / labels(1)[0] / CORRUPT_NAME
        path.write_bytes(truncated(fruit_image(labels(1)[0], rng)))
        written.append(path)
    return written


def truncated(image: Image.Image) -> bytes:
    """The first third of the image's JPEG: a file no decoder can read whole."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 3]
