"""The exact network of a run's model id, found or rebuilt, checked, and loaded as the job's workers load it.

Where the network comes from, first found first:

1. ``$ORCHARD_MODEL_DIR/<model id>.<suffix>``: the networks baked into the EMR image (orchard_job.artifact);
   the image's build names each file by the id it computed.
2. ``<results>/_artifacts/<model id>.<suffix>``: the network the job exported when the image had none baked
   (its ``.json`` description names the id, and is checked).
3. Rebuilt here from the weights the model file records (a seeded random network, the ImageNet weights file
   named by its sha256, or the recorded weights file) with the same exporter; the id this machine computes
   (weights id, TensorFlow/Keras versions for a random network, image size, runtime) must equal the model's,
   or the photo is refused: another network's features do not fit the run's basis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchard.errors import UserError
from orchard.similar import RunModel
from orchard.similar_sources import RunSource
from orchard_job.artifact import BAKED_ENV, describe
from orchard_job.config import DEFAULT_BATCH_SIZE
from orchard_job.network import WeightsError, WeightsSpec
from orchard_job.runtime import Featurizer, get_featurizer

CACHE_ENV = "ORCHARD_NETWORK_CACHE"  # where rebuilt networks are kept (default ~/.cache/orchard/networks)


def featurizer_for(model: RunModel, source: RunSource) -> Featurizer:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as the job's workers: TensorFlow's notices off
    path = network_path(model, source)
    runtime = str(model.description["runtime"])
    return get_featurizer(str(path), runtime, os.cpu_count() or 1, DEFAULT_BATCH_SIZE)


def file_name(model: RunModel) -> str:
    """As orchard_job.artifact.describe names the exported network."""
    return model.model_id + (".tflite" if model.description["runtime"] == "tflite" else ".keras")


def network_path(model: RunModel, source: RunSource) -> Path:
    name = file_name(model)
    baked = Path(os.environ.get(BAKED_ENV, "/nonexistent")) / name
    if baked.is_file():
        return baked
    cache = cache_dir() / name
    if cache.is_file():
        return cache
    stored = source.artifact(name)
    if stored is not None:
        described = source.artifact(name + ".json")
        stored_id = json.loads(described).get("model_id") if described else None
        if stored_id != model.model_id:
            raise UserError(f"the network stored as {name} in {source.name} says it is {stored_id}, "
                            f"not {model.model_id}: refusing it")  # fmt: skip
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(stored)
        return cache
    return rebuild(model, cache)


def rebuild(model: RunModel, destination: Path) -> Path:
    """Export the network here from the recorded weights, after checking that its id is the model's."""
    spec = weights_spec(model.description["weights"])
    size, runtime = int(model.description["image_size"]), str(model.description["runtime"])
    try:
        built = describe(spec, size, runtime).network_id
    except (WeightsError, OSError) as e:
        raise UserError(f"cannot rebuild network {model.model_id}: {e}") from e
    if built != model.model_id:
        raise UserError(
            f"run {model.run_id} used network {model.model_id}, but this machine would build {built} "
            "(other weights or TensorFlow/Keras versions): refusing to mix them"
        )
    print(f"building network {built} (once; kept in {destination.parent}) ...", file=sys.stderr, flush=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    export = [sys.executable, "-m", "orchard_job.artifact", str(destination.parent),
              "--weights", weights_argument(spec), "--sizes", str(size), "--runtime", runtime]  # fmt: skip
    subprocess.run(export, check=True, capture_output=True)
    return destination


def weights_spec(weights: dict[str, object]) -> WeightsSpec:
    if weights["kind"] == "random":
        return WeightsSpec("random", seed=int(str(weights["seed"])))
    if weights["kind"] == "imagenet":
        return WeightsSpec("imagenet")
    return WeightsSpec("file", path=str(weights.get("path", "")))


def weights_argument(spec: WeightsSpec) -> str:
    """The job's --weights text for the spec (WeightsSpec.parse reads it back)."""
    if spec.kind == "random":
        return f"random:{spec.seed}"
    return "imagenet" if spec.kind == "imagenet" else str(spec.path)


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "orchard" / "networks"
    return Path(os.environ.get(CACHE_ENV, default))
