"""Decoding: every Pillow mode becomes RGB of the requested size; bad files raise DecodeError with reasons."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from orchard_job.decode import MAX_IMAGE_PIXELS, DecodeError, decode_image

SIZE = 96


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(mode: str, size: tuple[int, int] = (40, 30)) -> Image.Image:
    rgb = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    rgb[..., 0] = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :]
    rgb[..., 1] = np.linspace(0, 255, size[1], dtype=np.uint8)[:, None]
    return Image.fromarray(rgb, "RGB").convert(mode)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("RGB", "JPEG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"),
     ("RGBA", "PNG"), ("1", "PNG")],
)  # fmt: skip
def test_every_mode_decodes_to_rgb(mode: str, fmt: str) -> None:
    array = decode_image(encode(gradient(mode), fmt), SIZE)
    assert array.shape == (SIZE, SIZE, 3)
    assert array.dtype == np.uint8
    assert array.std() > 5  # the picture survived, not a blank frame


def test_16_bit_grayscale_png_is_scaled_not_clipped() -> None:
    pixels = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (64, 1))
    array = decode_image(encode(Image.fromarray(pixels, "I;16"), "PNG"), SIZE)
    assert array[:, 0].mean() < 10 and array[:, -1].mean() > 245


def test_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    assert (decode_image(encode(image, "PNG"), SIZE) == 255).all()


def test_palette_with_transparency_keeps_colours() -> None:
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.info["transparency"] = 0
    array = decode_image(encode(image, "PNG", transparency=0), SIZE)
    assert tuple(array[10, 10]) == (0, 200, 0)


def test_exif_orientation_is_honoured() -> None:
    image = Image.new("RGB", (60, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # red square on the left of a wide image
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed: red goes to the top
    array = decode_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95), 60)
    assert array[:15, 30, 0].mean() > 180  # top is red
    assert array[-15:, 30, 2].mean() > 180  # bottom is blue


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"<html><body>not an image</body></html>", "not a recognised image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a recognised image"),
    ],
)
def test_bad_bytes_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_image(data, SIZE)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_rejected(fmt: str) -> None:
    data = encode(gradient("RGB", (200, 200)), fmt)
    with pytest.raises(DecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 3], SIZE)


def test_decompression_bomb_is_rejected_from_the_header() -> None:
    side = int(MAX_IMAGE_PIXELS**0.5) + 1000
    bomb = encode(Image.new("1", (side, side)), "PNG")  # a few KB on disk, > 64 Mpx declared
    assert len(bomb) < 200_000
    with pytest.raises(DecodeError, match="too large"):
        decode_image(bomb, SIZE)


def test_large_but_allowed_image_decodes() -> None:
    data = encode(Image.new("RGB", (10_000, 600), (10, 120, 200)), "JPEG")
    assert tuple(decode_image(data, SIZE)[48, 48]) == pytest.approx((10, 120, 200), abs=3)
