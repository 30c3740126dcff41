"""Worker side of featurization: Arrow batches of file bytes -> feature rows and decode failures.

Decoding batch n+1 (Pillow, in threads: it releases the GIL) overlaps the network's run on batch n, so the
cores that the network leaves idle between its operators decode the next images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchard_contract.tables import FEATURE_DIM
from orchard_job.decode import DecodeError, decode_image
from orchard_job.runtime import Featurizer

Failures = list[tuple[str, str]]  # (path, reason)


@dataclass(frozen=True)
class Decoded:
    paths: pa.Array
    results: list[np.ndarray | str]  # the image, or why it failed to decode
    hashes: list[str]  # sha256 of each file's bytes


def featurize_stream(
    batches: Iterable[pa.RecordBatch], network: Featurizer, size: int, threads: int
) -> Iterator[tuple[pa.RecordBatch, Failures]]:
    """Feature rows (path, content_sha256, features) and failures per batch, decoding one batch ahead."""
    with ThreadPoolExecutor(threads) as decoders, ThreadPoolExecutor(1) as ahead:
        upcoming: Future[Decoded] | None = None
        for batch in batches:
            following = ahead.submit(decode_batch, batch, size, decoders)
            if upcoming is not None:
                yield featurize_decoded(upcoming.result(), network)
            upcoming = following
        if upcoming is not None:
            yield featurize_decoded(upcoming.result(), network)


def decode_batch(batch: pa.RecordBatch, size: int, decoders: ThreadPoolExecutor) -> Decoded:
    contents = batch.column("content").to_pylist()
    results = list(decoders.map(lambda data: _decode_or_reason(data, size), contents))
    hashes = [hashlib.sha256(data or b"").hexdigest() for data in contents]
    return Decoded(batch.column("path"), results, hashes)


def featurize_decoded(decoded: Decoded, network: Featurizer) -> tuple[pa.RecordBatch, Failures]:
    paths, results = decoded.paths.to_pylist(), decoded.results
    failed = [(path, result) for path, result in zip(paths, results, strict=True) if isinstance(result, str)]
    ok_rows = [row for row, result in enumerate(results) if not isinstance(result, str)]
    images = [results[row] for row in ok_rows]
    vectors = network(np.stack(images)) if images else np.empty((0, FEATURE_DIM), np.float32)
    computed = pa.RecordBatch.from_arrays(
        [
            decoded.paths.take(pa.array(ok_rows, pa.int64())),
            pa.array([decoded.hashes[row] for row in ok_rows], pa.string()),
            list_column(vectors),
        ],
        names=["path", "content_sha256", "features"],
    )
    return computed, failed


def _decode_or_reason(data: bytes | None, size: int) -> np.ndarray | str:
    try:
        return decode_image(data, size)
    except DecodeError as e:
        return str(e)


def list_column(vectors: np.ndarray) -> pa.Array:
    """list<float> of the (n, FEATURE_DIM) vectors, built without per-float Python work."""
    offsets = pa.array(np.arange(len(vectors) + 1, dtype=np.int32) * FEATURE_DIM)
    return pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1).astype(np.float32), pa.float32()))
