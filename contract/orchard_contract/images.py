"""Which files are images: the suffixes, and the pattern and Hadoop glob derived from them."""

from __future__ import annotations

import re

# What Pillow decodes without extra libraries (a GIF: its first frame). HEIC/HEIF would need pillow-heif,
# whose wheels bundle GPL code (x265): such files are counted as ignored, by suffix.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def _any_case(text: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in text)


# The end of a path or key (not before a trailing line break), in any case.
IMAGE_PATTERN = r"(?i)\.(" + "|".join(re.escape(s[1:]) for s in IMAGE_SUFFIXES) + r")\Z"
# The same as a Hadoop file-name glob (pathGlobFilter), which has no case-insensitive mode.
IMAGE_GLOB = "*.{" + ",".join(_any_case(s[1:]) for s in IMAGE_SUFFIXES) + "}"


def is_image(path: str) -> bool:
    return re.search(IMAGE_PATTERN, path) is not None
