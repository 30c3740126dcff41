"""Image decoding: bytes -> RGB uint8 array of a fixed square size, or a reject reason.

Every path (job, tests, benchmark) decodes through `decode_image`, so the resize is the same everywhere.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; we reject anything above the limit
# from the header alone, before any pixel is decoded (a 100k x 100k PNG is a few KB on disk).
MAX_IMAGE_PIXELS = 64_000_000
MAX_FILE_BYTES = 50 * 1024 * 1024
RESAMPLE = Image.Resampling.BILINEAR


class DecodeError(ValueError):
    """A file that cannot become an image; the message is the reject reason users see."""


def decode_image(data: bytes | None, size: int) -> np.ndarray:
    """Decode `data` to a (size, size, 3) uint8 RGB array, honouring EXIF orientation."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise DecodeError(f"file too large ({len(data)} bytes > {MAX_FILE_BYTES})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise DecodeError(f"image too large ({width}x{height} px > {MAX_IMAGE_PIXELS} px limit)")
                image.draft("RGB", (size, size))  # JPEG: decode at reduced scale when much larger
                rgb = _to_rgb(ImageOps.exif_transpose(image))
                return np.asarray(rgb.resize((size, size), RESAMPLE), dtype=np.uint8)
    except DecodeError:
        raise
    except UnidentifiedImageError as e:
        raise DecodeError("not a recognised image (no JPEG, PNG, WebP, BMP, TIFF or GIF)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DecodeError(f"decompression bomb: {e}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DecodeError(f"corrupt or truncated image: {e}") from e


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; alpha is composited on white, 16-bit is scaled to 8-bit."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(pixels.max()), 1.0)
        gray = np.clip(pixels / peak * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        span = max(float(pixels.max() - pixels.min()), 1e-12)
        gray = ((pixels - pixels.min()) / span * 255.0).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
