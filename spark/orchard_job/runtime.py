"""Worker side of the network: load the exported artifact once per Python worker process and run batches.

The default runtime is LiteRT (TFLite with XNNPACK) running the flatbuffer exported from the Keras network;
`tf` runs the saved Keras network itself through a tf.function, for comparison. Spark reuses Python workers
across tasks (spark.python.worker.reuse), so the module-level cache means one network load per worker
process, not per task or batch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from orchard_contract.tables import FEATURE_DIM

Featurizer = Callable[[np.ndarray], np.ndarray]
_LOADED: dict[tuple[str, str, int, int], Featurizer] = {}


def get_featurizer(artifact_path: str, runtime: str, threads: int, batch_size: int) -> Featurizer:
    key = (artifact_path, runtime, threads, batch_size)
    if key not in _LOADED:
        _LOADED.clear()  # one network per worker: a new artifact replaces the old one
        loader = _tflite if runtime == "tflite" else _keras
        started = time.perf_counter()
        _LOADED[key] = loader(artifact_path, threads, batch_size)
        seconds = time.perf_counter() - started
        loaded = f"loaded the {runtime} network {os.path.basename(artifact_path)} ({threads} threads,"
        loaded += f" batches of {batch_size}) in {seconds:.2f} s"
        print(f"orchard worker {os.getpid()}: {loaded}", file=sys.stderr, flush=True)
    return _LOADED[key]


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _tflite(path: str, threads: int, batch_size: int) -> Featurizer:
    from ai_edge_litert.interpreter import Interpreter  # LiteRT alone: no TensorFlow import in workers

    interpreter: Any = Interpreter(model_path=path, num_threads=threads)
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    size = int(interpreter.get_input_details()[0]["shape"][1])
    interpreter.resize_tensor_input(input_index, [batch_size, size, size, 3])
    interpreter.allocate_tensors()
    interpreter.invoke()  # the first call plans the graph (slow): pay it at load time, not in a batch

    def run(images: np.ndarray) -> np.ndarray:
        out = np.empty((len(images), FEATURE_DIM), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            padded = chunk
            if len(chunk) < batch_size:  # fixed input shape: resizing would re-plan the graph
                padded = np.zeros((batch_size, *chunk.shape[1:]), dtype=np.uint8)
                padded[: len(chunk)] = chunk
            interpreter.set_tensor(input_index, padded)
            interpreter.invoke()
            out[start : start + len(chunk)] = interpreter.get_tensor(output_index)[: len(chunk)]
        return out

    return run


def _keras(path: str, threads: int, batch_size: int) -> Featurizer:
    _quiet_tensorflow()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised in this process: keep its thread pools
        pass
    import keras

    network = keras.models.load_model(path, compile=False)
    size = int(network.input_shape[1])
    spec = tf.TensorSpec([None, size, size, 3], tf.uint8)
    call = tf.function(lambda x: network(x, training=False), input_signature=[spec])

    def run(images: np.ndarray) -> np.ndarray:
        parts = [call(images[i : i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
        return np.concatenate(parts).astype(np.float32) if parts else np.empty((0, FEATURE_DIM), np.float32)

    return run
