"""Orchard's Spark job: images -> MobileNetV2 features -> StandardScaler -> PCA -> Parquet.

    spark-submit spark/featurize.py --input URI --output URI [--run-id ID] [--weights imagenet|random|PATH]
        [--image-size 224] [--variance 0.95 | --k N] [--manifest URI] [--runtime tflite|tf]

Runs on EMR Serverless (the custom image installs the `orchard_job` package) and locally with the
project's environment (`.venv/bin/spark-submit`). Exit code 0 on success, 1 on failure.
"""

from __future__ import annotations

import json
import logging
import sys

from pyspark.sql import SparkSession

from orchard_job.config import parse_args
from orchard_job.job import run
from orchard_job.network import WeightsError


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log = logging.getLogger("orchard")
    log.setLevel(logging.INFO)
    spark = SparkSession.builder.appName(f"orchard-featurize-{config.run_id}").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:
        report = run(spark, config)
    except WeightsError as e:  # the caller's mistake (a missing or unreadable weights file): one line
        log.error("run %s failed: %s", config.run_id, e)
        return 1
    except Exception:
        log.exception("run %s failed", config.run_id)
        return 1
    finally:
        spark.stop()
    log.info("run %s succeeded: %s", config.run_id, json.dumps(report["counts"]))
    print(json.dumps({"run_id": report["run_id"], "report": report["outputs"]["report"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
