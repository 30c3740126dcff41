"""A deterministic corpus of hostile and odd uploads, and what the flow must make of each.

Every upload is tiny: the decompression bombs only declare huge dimensions in their headers. ``expect`` is
"featurized" (one row in pca), "rejected" (one row in rejects, its reason containing ``reason``) or
"ignored" (in neither: the notification filter or the trigger never forwards the key, and the job's
listing skips it: outside the images prefix, not an image suffix, a folder marker). A key with '.', '..' or
empty segments is rejected from its line in the batch manifest: the only place the job meets such a key as
written, since a Hadoop path resolves those segments to another object.
"""

from __future__ import annotations

import io
import random
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Expect = Literal["featurized", "rejected", "ignored"]

NO_LABEL = "not inside a label folder"
CORRUPT = "corrupt or truncated image"
EMPTY = "empty file"
NOT_IMAGE = "not a recognised image"
BOMB = "decompression bomb"  # Pillow's own limit (~89 Mpx) trips first
TOO_LARGE = "image too large"  # decode.py's 64 Mpx limit, between 64 and 89 Mpx
ODD_SEGMENTS = "'.', '..' or empty path segments"


@dataclass(frozen=True)
class HostileUpload:
    key: str
    body: bytes
    expect: Expect
    reason: str = ""  # for "rejected": a substring of the reject reason


def hostile_uploads(prefix: str = "images/") -> list[HostileUpload]:
    rng = random.Random(5)

    def ok(name: str, body: bytes) -> HostileUpload:
        return HostileUpload(prefix + name, body, "featurized")

    def bad(name: str, body: bytes, reason: str) -> HostileUpload:
        return HostileUpload(prefix + name, body, "rejected", reason)

    def jpeg() -> bytes:
        return encode(noise(rng), "JPEG")

    unicode_key = "Äpfel/grüne äpfel.jpg"
    return [
        ok("Formats/rgb.jpg", jpeg()),
        ok("Formats/gray.png", encode(noise(rng).convert("L"), "PNG")),
        ok("Formats/cmyk.jpg", encode(noise(rng).convert("CMYK"), "JPEG")),
        ok("Formats/rgba.png", encode(rgba(rng), "PNG")),
        ok("Formats/palette.png", palette(rng)),
        ok("Formats/sixteen_bit.png", encode(sixteen_bit(rng), "PNG")),
        ok("Formats/exif_rotated.jpg", exif_rotated(rng)),
        ok("Formats/wide_10000x10.png", encode(wide(), "PNG")),
        ok("Apple Red/with space.jpg", jpeg()),
        ok("Apple+Pear/a+b=c.jpg", jpeg()),
        ok(unicodedata.normalize("NFC", unicode_key), jpeg()),
        ok(unicodedata.normalize("NFD", unicode_key), jpeg()),  # another key to S3: both must stay
        ok("Emoji 🍎/🍏.png", encode(noise(rng), "PNG")),
        ok("Pear/50% off.jpg", jpeg()),
        ok("Pear/[glob]{a,b}*?.jpg", jpeg()),
        ok("Pear/UPPER CASE.JPEG", jpeg()),
        ok("Pear/tab\tback\\slash:colon.jpg", jpeg()),
        ok("Pear/line\nbreak.jpg", jpeg()),  # the trigger leaves it out; the job's listing finds it
        ok("Pear/~" + "0" * 40 + ".jpg", jpeg()),  # shaped like the local mirror's stand-in names
        ok("Plum /trailing space .jpg", jpeg()),
        ok("Long/" + "ä" * 150 + ".jpg", jpeg()),  # a 304-byte name: no local file system takes it
        # Names Spark's file index takes for hidden or metadata files: read all the same.
        ok("_Unsorted/u.jpg", jpeg()),
        ok(".hidden/Apple/deep.jpg", jpeg()),
        ok("Apple/.dotted.jpg", jpeg()),
        ok("Apple/_underscored.png", encode(noise(rng), "PNG")),
        ok("Formats/lossless.webp", encode(noise(rng), "WEBP", lossless=True)),
        ok("Formats/plain.bmp", encode(noise(rng), "BMP")),
        ok("Formats/scan.tiff", encode(noise(rng), "TIFF")),
        ok("Formats/animated.gif", animated_gif(rng)),
        # macOS's AppleDouble companion of IMG_0001.jpg: metadata, not an image.
        bad("Apple/._IMG_0001.jpg", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ", NOT_IMAGE),
        bad("_Unsorted/empty.png", b"", EMPTY),
        bad("root.jpg", jpeg(), NO_LABEL),
        bad("Broken/truncated.jpg", jpeg()[:300], CORRUPT),
        bad("Broken/zero_bytes.jpg", b"", EMPTY),
        bad("Broken/not_an_image.jpg", b"just some text, not a JPEG\n", NOT_IMAGE),
        bad("Broken/page.png", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", NOT_IMAGE),
        bad("Broken/bomb.png", png_header(100_000, 100_000), BOMB),
        bad("Broken/bomb.jpg", jpeg_declaring(jpeg(), 65_500, 65_500), BOMB),
        bad("Broken/declared_10000x10000.png", png_header(10_000, 10_000), BOMB),
        bad("Broken/declared_10000x8000.png", png_header(10_000, 8_000), TOO_LARGE),
        bad("Apple/../dot_dot.jpg", jpeg(), ODD_SEGMENTS),
        bad("../outside.jpg", jpeg(), ODD_SEGMENTS),
        bad("Apple/./dot.jpg", jpeg(), ODD_SEGMENTS),
        bad("Apple//double_slash.jpg", jpeg(), ODD_SEGMENTS),
        HostileUpload("other/Apple/1.jpg", jpeg(), "ignored"),
        HostileUpload(prefix + "Apple/notes.txt", b"not an image suffix\n", "ignored"),
        HostileUpload(prefix + "Apple/IMG_0002.heic", b"ftypheic", "ignored"),
        HostileUpload(prefix + "Apple/.DS_Store", b"\x00\x00\x00\x01Bud1", "ignored"),
        HostileUpload(prefix + "Apple/", b"", "ignored"),  # a console "folder"
        HostileUpload(prefix + "Pear", b"", "ignored"),  # another tool's "folder", beside Pear/...
    ]


def noise(rng: random.Random, size: tuple[int, int] = (16, 16)) -> Image.Image:
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def animated_gif(rng: random.Random) -> bytes:
    frames = [noise(rng) for _ in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


def rgba(rng: random.Random) -> Image.Image:
    image = noise(rng).convert("RGBA")
    image.putalpha(Image.frombytes("L", image.size, rng.randbytes(image.width * image.height)))
    return image


def palette(rng: random.Random) -> bytes:
    image = noise(rng).quantize(colors=16)
    return encode(image, "PNG", transparency=0)


def sixteen_bit(rng: random.Random) -> Image.Image:
    values = np.frombuffer(rng.randbytes(16 * 16 * 2), dtype=np.uint16).reshape(16, 16)
    return Image.fromarray(values.copy())


def exif_rotated(rng: random.Random) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return encode(noise(rng, (24, 12)), "JPEG", exif=exif.tobytes())


def wide() -> Image.Image:
    """10,000 x 10 px: a long side, but only 100,000 pixels (a gradient, so the PNG stays small)."""
    row = (np.arange(10_000) % 256).astype(np.uint8)
    return Image.fromarray(np.stack([np.tile(row, (10, 1))] * 3, axis=-1))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height (8-bit gray) and holds no pixel data: a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def jpeg_declaring(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0) rewritten to declare width x height."""
    at = data.index(b"\xff\xc0") + 5  # marker (2), segment length (2), sample precision (1)
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]
