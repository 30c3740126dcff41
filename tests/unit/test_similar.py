"""`orchard similar`'s parts: the model file read back, the projection, the neighbours and the vote, where the
network comes from (and the id checks that refuse another one), and the AWS source on moto (Glue, S3, Athena
with canned rows)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import requests
from deploy_support import REGION, moto_account
from PIL import Image

from orchard import similar_network, stacks
from orchard.cli import main
from orchard.errors import UserError
from orchard.local.keys import KeyFolder
from orchard.local.state import bucket_dir, catalog_path
from orchard.similar import Neighbour, load_model, nearest, search, vote
from orchard.similar_sources import AwsSource, LocalSource, Vectors, vectors_sql
from orchard_contract.layout import MODELS_DATASET, run_path
from orchard_contract.tables import PUBLISHED_RUN
from orchard_job.artifact import BAKED_ENV, NetworkArtifact, describe
from orchard_job.basis import Basis, model_files
from orchard_job.network import WeightsSpec
from orchard_job.pca import PcaModel

RESULTS, RUN = "s3://bucket/results", "20260101T000000Z"
DIM, K = 8, 3


def pca_model() -> PcaModel:
    rng = np.random.default_rng(3)
    components, _ = np.linalg.qr(rng.normal(size=(DIM, K)))
    std = rng.uniform(0.5, 2.0, DIM)
    std[2] = 0.0  # a constant feature scales to 0
    return PcaModel(rng.normal(size=DIM), std, components, np.array([0.5, 0.3, 0.1]), np.zeros(DIM), 40)


NETWORK = NetworkArtifact("net-96", {"kind": "random", "seed": 7, "id": "r7"}, 96, "tflite", "net-96.tflite")


def stored_model(run_id: str = RUN) -> dict[str, bytes]:
    folder = run_path(RESULTS, MODELS_DATASET, run_id)
    basis = Basis("an-earlier-run", pca_model(), NETWORK.network_id, 0.95, None)
    return {f"{folder}/{name}": data for name, data in model_files(basis, NETWORK).items()}


def featurize(images: np.ndarray) -> np.ndarray:
    """A stand-in network: 8 numbers from each image's pixels."""
    pixels = images.reshape(len(images), -1, 3).astype(np.float64)
    return np.concatenate([pixels.mean(axis=1), pixels.std(axis=1), pixels.max(axis=1)[:, :2]], axis=1)


def expected_vector(photo: bytes) -> np.ndarray:
    """Scale and project by the model file's own recipe, written out independently of PcaModel.transform."""
    model = pca_model()
    image = np.asarray(
        Image.open(io.BytesIO(photo)).convert("RGB").resize((96, 96), Image.Resampling.BILINEAR)
    )
    scaled = (featurize(image[None])[0] - model.mean) / np.where(model.std > 0, model.std, 1.0)
    scaled[model.std == 0] = 0.0
    return scaled @ model.components


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (96, 96), color)
    image.paste((255, 255, 255), (20, 20, 60, 50))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class FakeSource:
    rows: Vectors
    files: dict[str, bytes] = field(default_factory=stored_model)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    name: str = "a test stack"
    results: str = RESULTS
    asked: list[tuple[str, bool]] = field(default_factory=list)

    def published_run(self) -> str:
        return RUN

    def read(self, uri: str) -> bytes | None:
        return self.files.get(uri)

    def artifact(self, file_name: str) -> bytes | None:
        return self.artifacts.get(file_name)

    def vectors(self, run_id: str, published: bool) -> Vectors:
        self.asked.append((run_id, published))
        return self.rows


def rows(vectors: dict[str, list[float]]) -> Vectors:
    return Vectors.from_rows([(path, path.split("/")[0], vector) for path, vector in vectors.items()])


def test_nearest_and_vote():
    table = rows({"A/1": [0, 0], "B/2": [1, 0], "A/3": [0, 2], "B/4": [2, 0], "C/5": [3, 0], "A/0": [1, 0]})
    found = nearest(np.array([0.0, 0.0], np.float32), table, 4)
    assert [(n.path, n.distance) for n in found] == [("A/1", 0), ("A/0", 1), ("B/2", 1), ("A/3", 2)]
    assert vote(nearest(np.zeros(2, np.float32), table, 5)) == ("A", 3, 5)
    tied = [
        Neighbour("x", "B", 1.0),
        Neighbour("y", "A", 1.5),
        Neighbour("z", "A", 2.0),
        Neighbour("w", "B", 3),
    ]
    assert vote(tied) == ("B", 2, 4)  # a tie goes to the label of the nearest image


def test_the_model_file_reads_back_as_written():
    model = load_model(FakeSource(rows({})), RUN)
    written = pca_model()
    for name in ("mean", "std", "components", "explained_variance"):
        np.testing.assert_array_equal(getattr(model.pca, name), getattr(written, name))
    assert (model.model_id, model.description["image_size"], model.description["runtime"]) == (
        "net-96",
        96,
        "tflite",
    )


def test_search_projects_the_photo_as_the_model_file_says(tmp_path, monkeypatch):
    photo = tmp_path / "photo.png"
    photo.write_bytes(png((200, 30, 40)))
    vector = expected_vector(photo.read_bytes())
    table = rows({"Apple/a": list(vector), "Apple/b": list(vector + 1), "Pear/c": list(vector + 0.5)})
    monkeypatch.setattr(similar_network, "featurizer_for", lambda model, source: featurize)
    source = FakeSource(table)
    answer = search(photo, source, top=2)
    np.testing.assert_allclose(answer.vector, vector, rtol=1e-5, atol=1e-6)
    assert [n.path for n in answer.neighbours] == ["Apple/a", "Pear/c"] and answer.neighbours[
        0
    ].distance < 1e-5
    assert (answer.label, answer.votes, answer.voters, answer.compared) == ("Apple", 2, 3, 3)
    assert source.asked == [(RUN, True)]
    with pytest.raises(
        UserError, match="no model of run older-run at s3://bucket/results/models/run_id=older-run/"
    ):
        search(photo, source, top=1, run_id="older-run")
    with pytest.raises(UserError, match="is not a run id"):
        search(photo, source, top=1, run_id="x' OR '1'='1")


def test_a_network_stored_under_the_models_name_but_another_id_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(BAKED_ENV, raising=False)
    monkeypatch.setenv(similar_network.CACHE_ENV, str(tmp_path))
    model = load_model(FakeSource(rows({})), RUN)
    source = FakeSource(
        rows({}), artifacts={"net-96.tflite": b"flatbuffer", "net-96.tflite.json": b'{"model_id": "other"}'}
    )
    with pytest.raises(UserError, match="says it is other, not net-96"):
        similar_network.network_path(model, source)
    source.artifacts["net-96.tflite.json"] = b'{"model_id": "net-96"}'
    assert similar_network.network_path(model, source).read_bytes() == b"flatbuffer"


def test_a_baked_network_is_found_by_the_models_id(tmp_path, monkeypatch):
    (tmp_path / "net-96.tflite").write_bytes(b"baked")
    monkeypatch.setenv(BAKED_ENV, str(tmp_path))
    model = load_model(FakeSource(rows({})), RUN)
    assert similar_network.network_path(model, FakeSource(rows({}))) == tmp_path / "net-96.tflite"


def test_a_network_this_machine_would_build_differently_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(similar_network.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(similar_network.subprocess, "run", lambda *a, **k: pytest.fail("must not build"))
    model = load_model(FakeSource(rows({})), RUN)  # random seed 7, but the id is not the one built here
    with pytest.raises(
        UserError,
        match=r"used network net-96, but this machine would build mobilenet_v2-96px-random-seed7-tf",
    ):
        similar_network.rebuild(model, tmp_path / "net-96.tflite")
    assert describe(WeightsSpec("random", seed=7), 96, "tflite").network_id.startswith(
        "mobilenet_v2-96px-random-seed7-"
    )


def test_the_aws_source_reads_glue_s3_and_athena(monkeypatch):
    with moto_account(monkeypatch) as session:
        s3, glue, athena = (session.client(name) for name in ("s3", "glue", "athena"))
        s3.create_bucket(Bucket="bucket")
        for uri, data in stored_model().items():
            s3.put_object(Bucket="bucket", Key=uri.removeprefix("s3://bucket/"), Body=data)
        glue.create_database(DatabaseInput={"Name": "orchard"})
        glue.create_table(
            DatabaseName="orchard", TableInput={"Name": "pca", "Parameters": {PUBLISHED_RUN: RUN}}
        )
        athena.create_work_group(
            Name="orchard-wg",
            Configuration={"ResultConfiguration": {"OutputLocation": "s3://bucket/athena/"}},
        )
        canned = [{"Data": [{"VarCharValue": v} for v in row]} for row in
                  [("path", "label", "pca"), ("s3://bucket/i/A/1.jpg", "A", "0.5,-1.25,3.0E-5")]]  # fmt: skip
        posted = requests.post(
            "http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
            json={"region": REGION, "results": [{"rows": canned, "column_info": []}]},
        )
        assert posted.status_code == 201
        outputs = {
            "ResultsLocation": RESULTS,
            "GlueDatabaseName": "orchard",
            "AthenaWorkGroupName": "orchard-wg",
        }
        source = AwsSource(stacks.Deployment("orchard-test", outputs), session)
        assert source.published_run() == RUN
        assert load_model(source, RUN).model_id == "net-96"
        assert source.artifact("net-96.tflite") is None
        vectors = source.vectors(RUN, published=True)
        [execution] = athena.list_query_executions()["QueryExecutionIds"]
        sent = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
    assert (vectors.paths, vectors.labels) == (["s3://bucket/i/A/1.jpg"], ["A"])
    np.testing.assert_array_equal(vectors.matrix, np.array([[0.5, -1.25, 3.0e-5]], np.float32))
    assert sent["Query"] == vectors_sql(RUN, True, vector="array_join(pca, ',')")
    assert sent["WorkGroup"] == "orchard-wg" and sent["QueryExecutionContext"]["Database"] == "orchard"


def test_an_unknown_stack_is_one_line(monkeypatch, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(png((10, 200, 10)))
    with moto_account(monkeypatch):
        code = main(["similar", str(photo), "--stack", "no-such-stack", "--region", REGION])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"orchard similar: no stack named no-such-stack in {REGION} (is the region right?)"
    ]


def test_vectors_sql_reads_the_published_table_or_the_runs_partition():
    assert vectors_sql(RUN, True) == "SELECT path, label, pca AS pca FROM pca"
    assert vectors_sql(RUN, False).endswith(f"FROM pca_history WHERE run_id = '{RUN}'")


def test_the_local_source_reads_the_saved_bucket_and_the_jobs_exported_networks(tmp_path):
    location = run_path("s3://b/results", "pca", RUN)
    table = {"Name": "pca", "Parameters": {PUBLISHED_RUN: RUN}, "StorageDescriptor": {"Location": location}}
    catalog_path(tmp_path).write_text(json.dumps({"bucket": "b", "database": "orchard", "tables": [table]}))
    saved = [
        (bucket_dir(tmp_path, "b"), "results/models/x.json", b"model"),
        (tmp_path / "mirror" / "b", "results/_artifacts/net.tflite", b"network"),
    ]
    for view, key, data in saved:
        KeyFolder(view).path(key).parent.mkdir(parents=True, exist_ok=True)
        KeyFolder(view).path(key).write_bytes(data)
    source = LocalSource(tmp_path)
    assert (source.results, source.published_run()) == ("s3://b/results", RUN)
    assert (
        source.read("s3://b/results/models/x.json") == b"model" and source.read("s3://b/results/no") is None
    )
    assert source.artifact("net.tflite") == b"network" and source.artifact("other.tflite") is None
