"""The network: MobileNetV2 as a feature extractor, its weights (resolved, seeded or loaded) and its export.

Keras builds the network. The driver builds it once and exports the artifact the workers run: a TFLite
flatbuffer (default, XNNPACK) or the saved Keras network (runtime `tf`, for comparison). Both take uint8 RGB
batches and apply `preprocess_input` (x / 127.5 - 1) inside the graph.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SIZES = (96, 128, 160, 192, 224)
DEFAULT_SEED = 1234
CALIBRATION_IMAGES = 64
IMAGENET_ENV = "ORCHARD_IMAGENET_WEIGHTS_DIR"
KERAS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5"


class WeightsError(RuntimeError):
    """The requested weights cannot be loaded; the message names the alternatives."""


@dataclass(frozen=True)
class WeightsSpec:
    """`imagenet`, `random` (or `random:SEED`), or a path to a Keras MobileNetV2 weights file."""

    kind: str
    seed: int = DEFAULT_SEED
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> WeightsSpec:
        if text == "imagenet":
            return cls("imagenet")
        if text == "random" or text.startswith("random:"):
            seed = int(text.split(":", 1)[1]) if ":" in text else DEFAULT_SEED
            return cls("random", seed=seed)
        return cls("file", path=text)


def imagenet_weights_path(size: int) -> Path:
    """The baked-in (env var) or Keras-cached ImageNet no-top weights file for `size`."""
    name = KERAS_FILE.format(size=size)
    candidates = []
    if os.environ.get(IMAGENET_ENV):
        candidates.append(Path(os.environ[IMAGENET_ENV]) / name)
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    candidates.append(keras_home / "models" / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise WeightsError(
        f"ImageNet weights file {name} not found (looked in: {', '.join(map(str, candidates))}). "
        f"Set {IMAGENET_ENV} to the folder holding it (the EMR image bakes it in), or run with "
        "--weights random (seeded network, features usable for tests and demos) or "
        "--weights PATH (any Keras MobileNetV2 no-top weights file)."
    )


def calibration_batch(size: int, seed: int, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Seeded, smooth, image-like uint8 batch used to set BatchNorm statistics of a random network."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    batch = np.empty((count, size, size, 3), dtype=np.float32)
    for i in range(count):
        base = rng.uniform(0, 255, size=3) + rng.uniform(-120, 120, size=(2, 3))[:, None, None, :].sum(0)
        image = np.broadcast_to(base, (size, size, 3)).copy()
        for _ in range(3):
            cy, cx, radius = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.4)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
            image += blob[..., None] * rng.uniform(-160, 160, size=3)
        image += rng.normal(0, 12, size=image.shape)
        batch[i] = image
    return np.clip(batch, 0, 255).astype(np.uint8)


def build_network(size: int, weights: WeightsSpec) -> Any:
    """MobileNetV2 as a Keras model: top removed, global average pooling, uint8 RGB in, features out."""
    import keras

    if size not in IMAGE_SIZES:
        raise ValueError(f"image size must be one of {IMAGE_SIZES}, got {size}")
    if weights.kind == "random":
        keras.utils.set_random_seed(weights.seed)
    backbone = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=None, pooling="avg"
    )
    if weights.kind == "imagenet":
        backbone.load_weights(str(imagenet_weights_path(size)))
    elif weights.kind == "file":
        try:
            backbone.load_weights(str(weights.path))
        except (OSError, ValueError) as e:
            raise WeightsError(f"cannot load MobileNetV2 weights from {weights.path}: {e}") from e
    else:
        _calibrate_batchnorm(backbone, calibration_batch(size, weights.seed))
    inputs = keras.Input((size, size, 3), dtype="uint8", name="rgb")
    scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess_input")(inputs)
    return keras.Model(inputs, backbone(scaled, training=False), name="orchard_mobilenet_v2")


def _calibrate_batchnorm(backbone: Any, images: np.ndarray) -> None:
    """Set every BatchNorm's moving statistics to those of a seeded sample (one training-mode pass).

    At initialisation the moving mean/variance are 0/1, so inference-mode activations shrink layer after
    layer and the outputs collapse to a near-zero vector, the same for every image. With momentum 0, one
    training-mode pass stores exactly the batch statistics each layer sees, and the network gives
    spread-out features.
    """
    import keras

    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    backbone(images.astype(np.float32) / 127.5 - 1.0, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


def weights_digest(network: Any) -> str:
    """sha256 over the network's weights: identifies the network the features come from."""
    digest = hashlib.sha256()
    for array in network.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_tflite(network: Any) -> bytes:
    """Convert the Keras network to a float32 TFLite flatbuffer.

    The concrete function is frozen first: converting Keras 3 variables directly drops the weights.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    size = int(network.input_shape[1])
    spec = tf.TensorSpec([None, size, size, 3], tf.uint8, name="rgb")
    serve = tf.function(lambda x: network(x, training=False), input_signature=[spec])
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)  # a frozen function has no trackable object to pass: expected
    try:
        flatbuffer: bytes = converter.convert()
    finally:
        absl_logger.setLevel(level)
    if len(flatbuffer) < 4_000_000:
        raise RuntimeError(f"TFLite export lost the weights ({len(flatbuffer)} bytes)")
    return flatbuffer
