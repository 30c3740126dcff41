"""Driver side of the network: resolve the weights, build and export the network once, ship it to workers.

The exported artifact is cached under `<output>/_artifacts/` keyed by the network id, so a rerun (or an
incremental run that featurizes a handful of images) does not rebuild and reconvert the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchard_job import storage
from orchard_job.config import RUNTIMES
from orchard_job.network import IMAGE_SIZES, WeightsSpec, file_sha256, imagenet_weights_path

if TYPE_CHECKING:  # the image build runs main() with no pyspark on the path (only spark-submit adds EMR's)
    from pyspark.sql import SparkSession

log = logging.getLogger("orchard")
ARTIFACTS_DIR = "_artifacts"
BAKED_ENV = "ORCHARD_MODEL_DIR"  # networks exported when the EMR image was built


@dataclass(frozen=True)
class NetworkArtifact:
    # Written as `model_id` (the feature cache's column, the report's key): the features depend on it alone.
    network_id: str
    weights: dict[str, Any]  # report section: kind, id, seed or sha256, random
    image_size: int
    runtime: str
    file_name: str  # name under SparkFiles on the workers

    def description(self) -> dict[str, Any]:
        """What `<file_name>.json` beside the exported network says (its keys are those of the report)."""
        fields = asdict(self)
        return {"model_id": fields.pop("network_id"), **fields}

    def worker_path(self) -> str:
        from pyspark import SparkFiles

        return SparkFiles.get(self.file_name)


def tensorflow_version() -> str:
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def describe_weights(spec: WeightsSpec, size: int) -> dict[str, Any]:
    if spec.kind == "random":
        versions = f"tf{tensorflow_version()}-keras{metadata.version('keras')}"
        return {
            "kind": "random",
            "random": True,
            "seed": spec.seed,
            "id": f"random-seed{spec.seed}-{versions}",
        }
    path = str(imagenet_weights_path(size)) if spec.kind == "imagenet" else str(spec.path)
    sha256 = file_sha256(path)
    return {
        "kind": spec.kind,
        "random": False,
        "sha256": sha256,
        "path": path,
        "id": f"{spec.kind}-{sha256[:16]}",
    }


def network_id_for(weights_id: str, size: int, runtime: str) -> str:
    return f"mobilenet_v2-{size}px-{weights_id}-{runtime}"


def describe(spec: WeightsSpec, size: int, runtime: str) -> NetworkArtifact:
    """Identify the network (cheap: hashes the weights file at most); nothing is built yet."""
    weights = describe_weights(spec, size)
    network_id = network_id_for(weights["id"], size, runtime)
    suffix = ".tflite" if runtime == "tflite" else ".keras"
    return NetworkArtifact(network_id, weights, size, runtime, file_name=network_id + suffix)


def ship(spark: SparkSession, artifact: NetworkArtifact, spec: WeightsSpec, output: str) -> None:
    """Make the exported network available to every worker (built once, then from the cache)."""
    baked = Path(os.environ.get(BAKED_ENV, "/nonexistent")) / artifact.file_name
    cached = storage.join(output, ARTIFACTS_DIR, artifact.file_name)
    if baked.is_file():
        log.info("network %s: using the one baked into the image", artifact.network_id)
        if not storage.exists(spark, cached):  # next to the results: `orchard similar` runs this network
            publish(spark, artifact, baked, cached)
        spark.sparkContext.addFile(str(baked))
        return
    if storage.exists(spark, cached):
        log.info("network %s: reusing the exported %s", artifact.network_id, cached)
    else:
        log.info("network %s: building MobileNetV2, exporting for %s", artifact.network_id, artifact.runtime)
        local = Path(tempfile.mkdtemp(prefix="orchard-network-")) / artifact.file_name
        _export(spec, artifact.image_size, artifact.runtime, local)
        publish(spark, artifact, local, cached)
    spark.sparkContext.addFile(cached)  # any Hadoop URI: workers fetch it once per executor


def publish(spark: SparkSession, artifact: NetworkArtifact, local: Path, uri: str) -> None:
    storage.write_bytes(spark, uri + ".json", json.dumps(artifact.description(), indent=2).encode())
    storage.upload(spark, local, uri)  # written last: its presence means complete


def _export(spec: WeightsSpec, size: int, runtime: str, destination: Path) -> None:
    from orchard_job.network import build_network, export_tflite

    network = build_network(size, spec)
    if runtime == "tflite":
        destination.write_bytes(export_tflite(network))
    else:
        network.save(destination)


def main(argv: list[str] | None = None) -> None:
    """Export networks ahead of time (the image build runs this): python -m orchard_job.artifact DIR ..."""
    parser = argparse.ArgumentParser(prog="python -m orchard_job.artifact")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(IMAGE_SIZES), choices=IMAGE_SIZES)
    parser.add_argument("--runtime", default="tflite", choices=RUNTIMES)
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    spec = WeightsSpec.parse(args.weights)
    for size in args.sizes:
        artifact = describe(spec, size, args.runtime)
        _export(spec, size, args.runtime, args.directory / artifact.file_name)
        print(f"exported {artifact.file_name}")


if __name__ == "__main__":
    main()
