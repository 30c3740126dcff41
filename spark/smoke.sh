#!/usr/bin/env bash
# Smoke check inside the built image (no AWS needed): imports, then the job in local mode on sample images.
#   docker run --rm --entrypoint /bin/bash orchard-spark /opt/orchard/smoke.sh
set -euo pipefail
python3.11 -c "import tensorflow, ai_edge_litert, pyarrow, PIL, orchard_job; print('imports ok, TF', tensorflow.__version__)"
work="$(mktemp -d)"
python3.11 -c "from pathlib import Path; from orchard.samples import write_samples; write_samples(Path('$work/images'), 8, 3)"
spark-submit --master 'local[2]' /opt/orchard/featurize.py --input "$work/images" --output "$work/out" \
  --weights imagenet --image-size 224 --run-id smoke
python3.11 -c "import json; r = json.load(open('$work/out/runs/run_id=smoke/report.json')); print(r['counts'], 'k =', r['k'])"
