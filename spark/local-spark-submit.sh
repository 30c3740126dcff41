#!/usr/bin/env bash
# Installed as .venv/bin/spark-submit by `make setup`: pyspark's own launcher runs with whatever `python3` is on
# PATH, so an un-activated `.venv/bin/spark-submit` would start the driver and workers without the job's pins.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$here/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PYSPARK_PYTHON}"
export SPARK_HOME="${SPARK_HOME:-$("$PYSPARK_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-@CONF_DIR@}"
exec "$SPARK_HOME/bin/spark-submit" "$@"
