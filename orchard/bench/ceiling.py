"""The network alone: Orchard's runtime on pre-decoded batches in one process, all cores (the ceiling).

python -m orchard.bench.ceiling ARTIFACT IMAGES_DIR IMAGE_SIZE THREADS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from orchard_job.config import DEFAULT_BATCH_SIZE
from orchard_job.decode import decode_image
from orchard_job.runtime import get_featurizer

BATCH = DEFAULT_BATCH_SIZE  # the job's own setting


def main() -> None:
    artifact, images, size, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    files = sorted(images.rglob("*.jpg"))
    batch = np.stack([decode_image(path.read_bytes(), size) for path in files])
    network = get_featurizer(artifact, "tflite", threads, BATCH)
    network(batch[:BATCH])  # warm-up: first invoke plans the graph
    started = time.perf_counter()
    network(batch)
    seconds = time.perf_counter() - started
    print(
        json.dumps({"img_s": len(batch) / seconds, "images": len(batch), "threads": threads, "batch": BATCH})
    )


if __name__ == "__main__":
    main()
