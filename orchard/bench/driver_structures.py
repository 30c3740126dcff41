"""What the driver holds per image: bytes and microseconds of each structure the job builds on the driver.

    python -m orchard.bench.driver_structures [N]

The job keeps, per image: the listing (StoredFile, then Image), the cache index (CacheIndex: key -> content
hash -> run), the carried rows (RowId tuples, read from and written to snapshot_rows.parquet), the rows of the
run (RowId set and path -> run dict). Each is built here with the job's own types from N synthetic S3-like
keys, measured by tracemalloc (bytes that stay allocated) and the clock; docs/performance.md scales them.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchard_job.cache_plan import CacheIndex
from orchard_job.carried_sums import ROW_COLUMNS
from orchard_job.listing import Image
from orchard_job.storage import StoredFile

RUN = "20261129T120000Z-4c1f"  # a run id of the trigger's length


def keys(n: int) -> list[StoredFile]:
    return [
        StoredFile(
            f"s3://orchard-images-123456789012/images/Label {i % 131}/r_{i:08d}_100.jpg", 5000 + i, i * 1000
        )
        for i in range(n)
    ]


def measure(build: Callable[[], Any]) -> tuple[Any, int, float]:
    tracemalloc.start()
    started = time.perf_counter()
    built = build()
    seconds = time.perf_counter() - started
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return built, held, seconds


def parquet_round_trip(rows: set[tuple[str, int, int, str]]) -> set[tuple[str, int, int, str]]:
    ordered = sorted(rows)
    buffer = io.BytesIO()
    pq.write_table(
        pa.table({name: [row[i] for row in ordered] for i, name in enumerate(ROW_COLUMNS)}), buffer
    )
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    return set(zip(*(table.column(name).to_pylist() for name in ROW_COLUMNS), strict=True))


def main(n: int) -> dict[str, Any]:
    files, listing_bytes, listing_s = measure(lambda: keys(n))
    images, image_bytes, image_s = measure(
        lambda: [Image(f.path, f.path.rsplit("/", 2)[-2], f.size, f.modified_us) for f in files]
    )
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    _, index_bytes, index_s = measure(
        lambda: CacheIndex.of(
            (i.path, i.size, i.modified_us, sha, RUN) for i, sha in zip(images, digests, strict=True)
        )
    )
    rows, rows_bytes, rows_s = measure(lambda: {(*i.key, RUN) for i in images})
    _, runs_bytes, runs_s = measure(lambda: {i.path: RUN for i in images})
    _, _, trip_s = measure(lambda: parquet_round_trip(rows))
    per_image = {
        "listing (StoredFile)": (listing_bytes, listing_s),
        "images (Image)": (image_bytes, image_s),
        "cache index": (index_bytes, index_s),
        "rows of the run (RowId set)": (rows_bytes, rows_s),
        "path -> run": (runs_bytes, runs_s),
        "carried rows, parquet write + read": (0, trip_s),
    }
    return {
        "n": n,
        "per_image": {
            name: {"bytes": round(b / n), "microseconds": round(1e6 * s / n, 2)}
            for name, (b, s) in per_image.items()
        },
        "bytes_per_image_total": round(sum(b for b, _ in per_image.values()) / n),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000), indent=2))
