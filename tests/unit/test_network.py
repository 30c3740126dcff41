"""The network: seeded random weights give usable features; LiteRT and Keras agree; weights resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchard_contract.tables import FEATURE_DIM
from orchard_job import runtime
from orchard_job.job import local_weights
from orchard_job.network import (
    WeightsError,
    WeightsSpec,
    build_network,
    calibration_batch,
    export_tflite,
    file_sha256,
    imagenet_weights_path,
    weights_digest,
)

SIZE = 96


@pytest.fixture(scope="module")
def network() -> object:
    return build_network(SIZE, WeightsSpec.parse("random"))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    import random

    from orchard.samples import fruit_image, labels

    rng = random.Random(3)
    pictures = [fruit_image(label, rng).resize((SIZE, SIZE)) for label in labels(8) for _ in range(3)]
    return np.stack([np.asarray(picture, dtype=np.uint8) for picture in pictures])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.slow  # builds a network
def test_random_network_gives_spread_out_features(network: object, images: np.ndarray) -> None:
    features = network.predict(images, verbose=0)  # type: ignore[attr-defined]
    assert features.shape == (len(images), FEATURE_DIM) and features.dtype == np.float32
    assert np.isfinite(features).all()
    assert features.std(axis=0).mean() > 1e-2  # uncalibrated BatchNorm gives ~1e-11 here
    similarity = cosine(features[:, None, :].repeat(len(images), 1).reshape(-1, FEATURE_DIM),
                        np.tile(features, (len(images), 1)))  # fmt: skip
    off_diagonal = similarity.reshape(len(images), len(images))[~np.eye(len(images), dtype=bool)]
    assert off_diagonal.min() < 0.99  # images are told apart


@pytest.mark.slow  # builds a network
def test_random_weights_are_deterministic(network: object) -> None:
    again = build_network(SIZE, WeightsSpec.parse("random"))
    other = build_network(SIZE, WeightsSpec.parse("random:99"))
    assert weights_digest(again) == weights_digest(network)
    assert weights_digest(other) != weights_digest(network)


@pytest.mark.slow  # builds a network
def test_litert_agrees_with_keras(network: object, images: np.ndarray, tmp_path: Path) -> None:
    artifact = tmp_path / "network.tflite"
    artifact.write_bytes(export_tflite(network))
    reference = network.predict(images, verbose=0)  # type: ignore[attr-defined]
    converted = runtime.get_featurizer(str(artifact), "tflite", threads=2, batch_size=16)(images)
    assert cosine(converted, reference).min() >= 0.9999
    np.testing.assert_allclose(converted, reference, atol=1e-3)


@pytest.mark.slow  # builds a network
def test_tf_runtime_runs_the_saved_network(network: object, images: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "network.keras"
    network.save(path)  # type: ignore[attr-defined]
    features = runtime.get_featurizer(str(path), "tf", threads=2, batch_size=16)(images)
    np.testing.assert_allclose(features, network.predict(images, verbose=0), rtol=1e-4, atol=1e-5)  # type: ignore[attr-defined]


@pytest.mark.slow  # builds a network
def test_weights_file_is_loaded(network: object, images: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "mobilenet_v2.weights.h5"
    network.get_layer(f"mobilenetv2_1.00_{SIZE}").save_weights(path)  # type: ignore[attr-defined]
    loaded = build_network(SIZE, WeightsSpec.parse(str(path)))
    assert weights_digest(loaded) == weights_digest(network)


@pytest.mark.slow  # builds a network
def test_a_weights_file_named_by_uri_is_copied_to_the_driver(
    spark: object, network: object, tmp_path: Path
) -> None:
    # On EMR the file is s3://...: Hadoop's FileSystem reads it (a local path would not exist there).
    path = tmp_path / "mobilenet_v2.weights.h5"
    network.get_layer(f"mobilenetv2_1.00_{SIZE}").save_weights(path)  # type: ignore[attr-defined]
    local = local_weights(spark, WeightsSpec.parse(path.as_uri()))
    assert local.path is not None and "://" not in local.path
    assert file_sha256(local.path) == file_sha256(str(path))
    assert weights_digest(build_network(SIZE, local)) == weights_digest(network)
    missing = (tmp_path / "none.weights.h5").as_uri()
    with pytest.raises(WeightsError, match=f"cannot read the weights file {missing}"):
        local_weights(spark, WeightsSpec.parse(missing))


@pytest.mark.slow  # builds a network
def test_unreadable_weights_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="cannot load MobileNetV2 weights"):
        build_network(SIZE, WeightsSpec.parse(str(path)))


def test_missing_imagenet_weights_name_the_alternatives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHARD_IMAGENET_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(WeightsError, match="--weights random") as error:
        imagenet_weights_path(224)
    assert "--weights PATH" in str(error.value)


def test_imagenet_weights_are_found_in_the_baked_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baked = tmp_path / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"
    baked.write_bytes(b"weights")
    monkeypatch.setenv("ORCHARD_IMAGENET_WEIGHTS_DIR", str(tmp_path))
    assert imagenet_weights_path(160) == baked


def test_calibration_sample_is_seeded() -> None:
    np.testing.assert_array_equal(calibration_batch(32, 5, 4), calibration_batch(32, 5, 4))
    assert not np.array_equal(calibration_batch(32, 5, 4), calibration_batch(32, 6, 4))
