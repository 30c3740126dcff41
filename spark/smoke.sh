#!/usr/bin/env bash
# Smoke check inside the built image (no AWS needed): imports in the bare python3.11 (no pyspark there: EMR puts
# its own on the path under spark-submit only), then the job through spark-submit in local mode on sample images,
# with the baked ImageNet weights and the network the build exported from them.
#   docker run --rm --entrypoint /bin/bash orchard-spark /opt/orchard/smoke.sh
# tests/integration/test_image_rehearsal.py runs this file in a rehearsal of the image: ORCHARD_HOME and
# SMOKE_IMAGE_SIZE default to the image's values; python3.11 and spark-submit are those on PATH.
set -euo pipefail
home="${ORCHARD_HOME:-/opt/orchard}"
size="${SMOKE_IMAGE_SIZE:-224}"
python3.11 -c "import tensorflow, ai_edge_litert, pyarrow, PIL, orchard_job.artifact, orchard.samples; print('imports ok, TF', tensorflow.__version__)"
work="$(mktemp -d)"
python3.11 -c "import sys; from pathlib import Path; from orchard.samples import write_samples; write_samples(Path(sys.argv[1]), 8, 3)" "$work/images"
spark-submit --master 'local[2]' "$home/featurize.py" --input "$work/images" --output "$work/out" \
  --weights imagenet --image-size "$size" --run-id smoke
python3.11 - "$work/out" "$ORCHARD_MODEL_DIR" <<'EOF'
import json, os, sys
out, baked = sys.argv[1], sys.argv[2]
report = json.load(open(f"{out}/runs/run_id=smoke/report.json"))
# The job publishes the network it ran under _artifacts/: the baked file itself, byte for byte. A job that
# found no network baked for its model id would have exported one (its bytes differ from any baked file).
name = report["model_id"] + ".tflite"
published = open(f"{out}/_artifacts/{name}", "rb").read()
assert os.path.exists(f"{baked}/{name}") and published == open(f"{baked}/{name}", "rb").read(), (
    "the job exported a network instead of using the baked one"
)
print("smoke ok:", report["counts"], "k =", report["k"], "model", report["model_id"])
EOF
