#!/usr/bin/env bash
# Fetch the ImageNet no-top MobileNetV2 weights for each size into DIR and verify every file against RECORDED
# (spark/imagenet-weights.sha256) with sha256sum --check. Keras publishes no hashes, so they are recorded on first
# use: while RECORDED holds no hash line, the build trusts its download and writes the hashes to DIR/SHA256SUMS,
# which `make image` copies into RECORDED for the user to commit; from then on every build verifies.
#   WEIGHTS_URL=https://... fetch-weights.sh DIR RECORDED SIZE...
set -euo pipefail
dir="$1" recorded="$2"
shift 2
mkdir -p "$dir"
names=()
for size in "$@"; do
  name="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_${size}_no_top.h5"
  curl -fsSL --retry 3 -o "$dir/$name" "$WEIGHTS_URL/$name"
  names+=("$name")
done

recorded_line() {  # RECORDED's "<sha256>  <file>" line for file $1 (sha256sum's format)
  local hash file
  while read -r hash file; do
    if [[ $hash =~ ^[0-9a-f]{64}$ && $file == "$1" ]]; then
      echo "$hash  $file"
      return 0
    fi
  done < "$recorded"
  echo "fetch-weights: no sha256 recorded for $1 in $recorded" >&2
  return 1
}

cd "$dir"
if grep -Eq '^[0-9a-f]{64}  ' "$recorded"; then
  for name in "${names[@]}"; do
    recorded_line "$name"
  done > SHA256SUMS
  sha256sum --check --strict SHA256SUMS
else
  sha256sum "${names[@]}" > SHA256SUMS
  echo "fetch-weights: no sha256 recorded in $recorded yet: trusting this download (hashes in $dir/SHA256SUMS;" \
    "make image copies them into the file: commit it)" >&2
fi
