"""The network alone: Orchard's runtime on decoded chunks in one process, all cores (the ceiling).

python -m orchard.bench.ceiling ARTIFACT IMAGES_DIR IMAGE_SIZE THREADS [MAX_IMAGES [CHUNK]]

Images are decoded and run chunk by chunk, so memory stays flat at any image count; only the network calls are
timed (decoding is excluded). The ceiling is a rate: with MAX_IMAGES > 0 it runs on a seeded sample of at most
that many images, so every size pays the same, bounded time for it (a fixed-shape network costs the same per
image whatever the picture shows).
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from orchard_job.config import DEFAULT_BATCH_SIZE
from orchard_job.decode import decode_image
from orchard_job.runtime import get_featurizer

BATCH = DEFAULT_BATCH_SIZE  # the job's own setting
CHUNK = 1024
SAMPLE_SEED = 16


def chosen(files: list[Path], max_images: int) -> list[Path]:
    if 0 < max_images < len(files):
        return sorted(random.Random(SAMPLE_SEED).sample(files, max_images))
    return files


def chunks(files: list[Path], size: int, chunk: int) -> Iterator[np.ndarray]:
    for start in range(0, len(files), chunk):
        yield np.stack([decode_image(path.read_bytes(), size) for path in files[start : start + chunk]])


def main() -> None:
    artifact, images, size, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    max_images = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    # Whole batches per chunk: only the last chunk pads a batch, as one array of every image would.
    chunk = max(BATCH, (int(sys.argv[6]) if len(sys.argv) > 6 else CHUNK) // BATCH * BATCH)
    available = sorted(images.rglob("*.jpg"))
    files = chosen(available, max_images)
    network = get_featurizer(artifact, "tflite", threads, BATCH)
    seconds, cpu_seconds, count, n_chunks = 0.0, 0.0, 0, 0
    for decoded in chunks(files, size, chunk):
        if n_chunks == 0:
            network(decoded[:BATCH])  # warm-up: first invoke plans the graph
        started, cpu_started = time.perf_counter(), time.process_time()
        network(decoded)
        seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started  # every thread's: a loaded machine shows here
        count, n_chunks = count + len(decoded), n_chunks + 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "img_s": count / seconds, "images": count, "available": len(available), "chunks": n_chunks,
        "chunk_images": chunk, "network_s": round(seconds, 3), "network_cpu_s": round(cpu_seconds, 3),
        "threads": threads, "batch": BATCH, "peak_rss_mb": round(peak_mb, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
