"""The seed approach, reproduced faithfully for the benchmark (do not optimise: it is the baseline).

What is widely published for this job: a scalar-iterator pandas UDF that builds MobileNetV2 in every task
and calls `model.predict`, binaryFile partitions as Spark makes them, no caching, then Spark ML
StandardScaler and PCA on the un-persisted DataFrame (a first PCA fit to read the explained variance and
choose k, a second with that k), and Parquet out.

    spark-submit orchard/bench/seed_job.py INPUT OUTPUT IMAGE_SIZE VARIANCE
"""

from __future__ import annotations

import io
import json
import sys
import time

import numpy as np
import pandas as pd
from pyspark.ml.feature import PCA, StandardScaler
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.functions import PandasUDFType, pandas_udf

PCA_MAX_K = 300


def main() -> None:
    input_uri, output_uri, size, variance = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    spark = SparkSession.builder.appName("seed-featurize").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()

    def model_fn():
        from tensorflow.keras.applications import MobileNetV2

        return MobileNetV2(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))

    def preprocess(content: bytes) -> np.ndarray:
        from PIL import Image
        from tensorflow.keras.applications.mobilenet_v2 import preprocess_input

        image = Image.open(io.BytesIO(content)).convert("RGB").resize([size, size])
        return preprocess_input(np.asarray(image, dtype=np.float32))

    @pandas_udf("array<float>", PandasUDFType.SCALAR_ITER)
    def featurize_udf(content_series_iter):
        model = model_fn()
        for content_series in content_series_iter:
            batch = np.stack(content_series.map(preprocess))
            predictions = model.predict(batch, verbose=0)
            yield pd.Series([p.astype(np.float32).tolist() for p in predictions])

    images = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.jpg")
        .option("recursiveFileLookup", "true")
        .load(input_uri)
    )
    features = images.select("path", array_to_vector(featurize_udf("content")).alias("features"))
    scaled = (
        StandardScaler(inputCol="features", outputCol="scaled", withMean=True, withStd=True)
        .fit(features)
        .transform(features)
    )
    probe = PCA(k=PCA_MAX_K, inputCol="scaled", outputCol="pca").fit(scaled)
    cumulative = np.cumsum(probe.explainedVariance.toArray())
    k = min(int(np.searchsorted(cumulative, variance)) + 1, PCA_MAX_K)
    model = PCA(k=k, inputCol="scaled", outputCol="pca").fit(scaled)
    model.transform(scaled).select("path", vector_to_array(F.col("pca"), "float32").alias("pca")).write.mode(
        "overwrite"
    ).parquet(output_uri)
    rows = spark.read.parquet(output_uri).count()
    seconds = time.perf_counter() - started
    print(json.dumps({"approach": "seed", "rows": rows, "k": k, "seconds": seconds}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
