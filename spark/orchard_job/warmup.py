"""Load the network in the Python workers while the driver lists the images and plans the run.

A first featurize task otherwise waits for its Python worker to start (imports), the network to load and
its first call to plan the graph: seconds during which nothing is featurized. The warm-up runs those steps in
a background Spark job at the start of the run, on the Python workers the featurize tasks then reuse
(spark.python.worker.reuse; a SQL job, because SQL and RDD jobs get separate worker pools). It is only an
optimisation: a failure is logged and the featurize stage loads the network itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from orchard_job import artifact as artifacts
from orchard_job.artifact import ModelArtifact
from orchard_job.config import JobConfig
from orchard_job.features import worker_network

log = logging.getLogger("orchard")


@contextmanager
def warm_network(spark: SparkSession, model: ModelArtifact, config: JobConfig, slots: int) -> Iterator[bool]:
    """Warm the workers in the background when the exported network is at hand; yields whether it ships.

    The network is only shipped here when it needs no building (baked into the image or cached under
    <output>/_artifacts/); a first run that exports it ships it later, when it is known to be needed.
    """
    if not artifacts.available(spark, model, config.output):
        yield False
        return
    artifacts.ship(spark, model, config.weights, config.output)
    worker = threading.Thread(target=_warm, args=(spark, model, config.batch_size, slots), daemon=True)
    worker.start()
    try:
        yield True
    finally:
        worker.join()


def _warm(spark: SparkSession, model: ModelArtifact, batch_size: int, slots: int) -> None:
    """One task per slot, each loading the network in its Python worker.

    An RDD job: it starts at once, where a DataFrame job would first wait for the (cold) query planner.
    RDD and SQL tasks share Python workers when the SQL tasks' simplified tracebacks are off (see job.py).
    """

    def load(_: Iterable[int]) -> None:
        worker_network(model, batch_size)

    try:
        spark.sparkContext.parallelize(range(slots), slots).foreachPartition(load)
    except Exception as e:
        log.warning("warming the network up failed (featurize will load it): %s", e)
