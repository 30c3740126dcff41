"""`orchard similar` against a run the real job published on the local stack: a photo from the bucket finds
itself, its vector is its `pca` row; undecodable photos get the job's own reasons; a user's mistakes on this
stack (bad SQL, unknown run id) end in one line on stderr."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from orchard.cli import main
from orchard.local.keys import KeyFolder
from orchard.local.run import local_stack, upload_and_run
from orchard.local.state import bucket_dir
from orchard.query import run_query
from orchard.samples import CORRUPT_NAME, write_samples
from orchard.similar import demo_example, search
from orchard.similar_network import CACHE_ENV
from orchard.similar_sources import LocalSource
from orchard_contract.layout import S3Uri
from orchard_job.artifact import BAKED_ENV

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Published:
    state: Path
    images: Path
    run_id: str


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, baked_network: Path) -> Iterator[Published]:
    root = tmp_path_factory.mktemp("similar")
    write_samples(root / "images", per_label=4, n_labels=3)  # 12 images + 1 corrupt
    state = root / "state"
    with local_stack(state, {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        _, [execution] = upload_and_run(stack, root / "images")
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    yield Published(state, root / "images", execution.run_id)


def bucket_file(state: Path, uri: str) -> Path:
    where = S3Uri.parse(uri)
    return KeyFolder(bucket_dir(state, where.bucket)).path(where.key)


def pca_rows(state: Path) -> dict[str, np.ndarray]:
    rows = run_query(state, "SELECT path, pca FROM pca").rows
    return {path: np.array(vector, dtype=np.float64) for path, vector in rows}


def assert_finds_itself(state: Path, path: str, expected: np.ndarray) -> None:
    answer = search(bucket_file(state, path), LocalSource(state), top=3)
    assert answer.neighbours[0].path == path
    assert answer.neighbours[0].distance <= 1e-4 * np.linalg.norm(expected)
    assert np.linalg.norm(answer.vector - expected) <= 1e-4 * np.linalg.norm(expected)
    np.testing.assert_allclose(answer.vector, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_every_photo_from_the_bucket_finds_itself_with_its_pca_row(published):
    rows = pca_rows(published.state)
    assert len(rows) == 12
    for path, expected in rows.items():
        assert_finds_itself(published.state, path, expected)


def test_the_network_rebuilt_from_the_models_weights_gives_the_same_vectors(published, tmp_path, monkeypatch):
    monkeypatch.delenv(BAKED_ENV)  # neither baked nor exported by the job: built here, its id checked
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    path, expected = sorted(pca_rows(published.state).items())[0]
    assert_finds_itself(published.state, path, expected)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tflite"]


def test_the_command_prints_neighbours_and_the_vote(published, capsys):
    table = pca_rows(published.state)
    path, vector = sorted(table.items())[-1]
    closest = sorted(table, key=lambda other: (np.linalg.norm(table[other] - vector), other))[:5]
    votes = Counter(other.split("/")[-2] for other in closest)
    most = max(votes.values())
    photo = bucket_file(published.state, path)
    args = ["similar", str(photo), "--top", "2", "--state", str(published.state)]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert published.run_id in printed[0] and "12 images compared" in printed[0]
    assert printed[1].split()[:3] == ["1", "0.0000", path.split("/")[-2]] and printed[1].endswith(path)
    assert printed[2].endswith(closest[1]) and len(printed) == 4
    winner = printed[3].removeprefix("Vote of the 5 nearest: ").split(" (")[0]
    assert votes[winner] == most and printed[3].endswith(f"({most}/5 = {most / 5:.0%})")
    # a validated run's id reads its partition of pca_history: the same answer
    assert main([*args, "--run", published.run_id]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == printed[1:]


def one_error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    [line] = captured.err.splitlines()
    return line


def test_an_undecodable_photo_gets_the_jobs_reason(published, tmp_path, capsys):
    [(reason,)] = run_query(published.state, "SELECT reason FROM rejects").rows
    corrupt = published.images / "Apple Red" / CORRUPT_NAME
    assert corrupt.exists()
    state = ["--state", str(published.state)]
    assert (
        one_error_line(capsys, ["similar", str(corrupt), *state])
        == f"orchard similar: cannot use {corrupt}: {reason}"
    )
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert one_error_line(capsys, ["similar", str(empty), *state]).endswith(": empty file (0 bytes)")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert "not a recognised image" in one_error_line(capsys, ["similar", str(text), *state])
    # the installed command, in its own process: the photo is refused before any network loads (no notices)
    orchard = Path(sys.executable).parent / "orchard"
    done = subprocess.run([orchard, "similar", corrupt, *state], check=False, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"orchard similar: cannot use {corrupt}: {reason}"]


def test_mistakes_on_a_published_stack_end_in_one_line(published, capsys):
    state = ["--state", str(published.state)]
    photo = next(published.images.rglob("0000_100.jpg"))
    unknown_run = one_error_line(capsys, ["similar", str(photo), "--run", "20990101T000000Z", *state])
    assert "no model of run 20990101T000000Z" in unknown_run
    missing = one_error_line(capsys, ["similar", str(published.images / "nope.jpg"), *state])
    assert missing == f"orchard similar: photo {published.images / 'nope.jpg'} does not exist"
    typo = one_error_line(capsys, ["query", "SELECT * FORM pca", *state])
    assert "line 1, column 17 near 'pca'" in typo and "tables: features, pca, pca_history" in typo
    table = one_error_line(capsys, ["query", "SELECT * FROM pcaa", *state])
    assert 'Table with name pcaa does not exist! Did you mean "pca"?; line 1, column 15' in table
    assert "tables: features, pca, pca_history, rejects, rejects_history, runs" in table


def test_the_demo_ends_with_one_example(published, capsys):
    demo_example(published.state, published.images)
    printed = capsys.readouterr().out
    assert "orchard similar" in printed and "Vote of the 5 nearest:" in printed
