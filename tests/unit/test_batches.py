"""Worker-side featurization: decoding one batch ahead gives exactly what batch-by-batch processing gives."""

from __future__ import annotations

import hashlib
import io
import itertools
import random

import numpy as np
import pyarrow as pa

from orchard.samples import fruit_image
from orchard_contract.tables import FEATURE_DIM
from orchard_job.batches import featurize_stream
from orchard_job.decode import DecodeError, decode_image
from orchard_job.inference import RejectsParam

SIZE = 96


def pixels_as_features(images: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for the network (what is under test is the batching around it)."""
    return images.reshape(len(images), -1)[:, :FEATURE_DIM].astype(np.float32) / 255.0


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    fruit_image("Banana", random.Random(seed)).save(buffer, format="JPEG")
    return buffer.getvalue()


def batches() -> list[pa.RecordBatch]:
    files = [(f"s3://b/in/Banana/{i}.jpg", jpeg(i)) for i in range(9)]
    files[3] = ("s3://b/in/Banana/truncated.jpg", files[3][1][:200])
    files[7] = ("s3://b/in/Banana/text.jpg", b"not an image at all")
    sizes = [4, 0, 3, 2]  # an empty Arrow batch too
    starts = np.cumsum([0, *sizes])
    return [
        pa.RecordBatch.from_pydict(
            {"path": [p for p, _ in files[a:b]], "content": [c for _, c in files[a:b]]},
            schema=pa.schema([("path", pa.string()), ("content", pa.binary())]),
        )
        for a, b in itertools.pairwise(starts)
    ]


def test_the_stream_equals_batch_by_batch_decoding_and_keeps_every_failure() -> None:
    streamed = list(featurize_stream(iter(batches()), pixels_as_features, SIZE, threads=2))
    assert len(streamed) == len(batches())
    for (rows, failed), batch in zip(streamed, batches(), strict=True):
        expected_rows, expected_failed = [], []
        for path, data in zip(
            batch.column("path").to_pylist(), batch.column("content").to_pylist(), strict=True
        ):
            try:
                image = decode_image(data, SIZE)
            except DecodeError as e:
                expected_failed.append((path, str(e)))
                continue
            expected_rows.append((path, hashlib.sha256(data).hexdigest(), pixels_as_features(image[None])[0]))
        assert failed == expected_failed
        assert rows.column("path").to_pylist() == [path for path, _, _ in expected_rows]
        assert rows.column("content_sha256").to_pylist() == [sha for _, sha, _ in expected_rows]
        features = np.array(rows.column("features").to_pylist(), dtype=np.float32).reshape(-1, FEATURE_DIM)
        np.testing.assert_array_equal(
            features, np.array([f for _, _, f in expected_rows]).reshape(-1, FEATURE_DIM)
        )
    reasons = [reason for _, failed in streamed for _, reason in failed]
    assert len(reasons) == 2 and all(reasons)


def test_rejects_gathered_from_a_retried_task_are_counted_once() -> None:
    param = RejectsParam()
    first_attempt = [("s3://b/in/A/x.jpg", "corrupt")]
    retry = [("s3://b/in/A/x.jpg", "corrupt"), ("s3://b/in/B/y.jpg", "empty file (0 bytes)")]
    merged = param.addInPlace(param.addInPlace(param.zero([]), first_attempt), retry)
    assert merged == [("s3://b/in/A/x.jpg", "corrupt"), ("s3://b/in/B/y.jpg", "empty file (0 bytes)")]
