"""A user's mistake ends in one line on stderr and exit code 2, never a traceback; a bug keeps its
traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchard import cli
from orchard.local.state import bucket_dir, catalog_path
from orchard.query import run_query
from orchard_contract.layout import run_path
from orchard_contract.tables import PCA
from orchard_job.network import IMAGENET_ENV


def one_error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    [line] = captured.err.splitlines()
    return line


def no_catalog(state: Path) -> str:
    return f"no local catalog at {catalog_path(state)}: run `orchard demo` (or `make demo`) first"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A saved local catalog with one table, pca, over one Parquet file written before the contract's
    later columns."""
    folder = bucket_dir(tmp_path, "b") / run_path("results", PCA.dataset, "r1")
    folder.mkdir(parents=True)
    older = {"path": ["s3://b/A/1.jpg"], "label": ["A"], "pca": [[1.0]]}  # columns added later: not here
    pq.write_table(pa.table(older), folder / "p.parquet")
    serde = {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
    descriptor = {
        "Columns": [{"Name": name, "Type": hive_type} for name, hive_type in PCA.columns],
        "Location": run_path("s3://b/results", PCA.dataset, "r1"),
        "SerdeInfo": serde,
    }
    table = {"Name": "pca", "StorageDescriptor": descriptor, "Partitions": []}
    catalog_path(tmp_path).write_text(json.dumps({"bucket": "b", "database": "orchard", "tables": [table]}))
    return tmp_path


def test_a_query_typo_says_where_and_which_tables_exist(state, capsys):
    line = one_error_line(capsys, ["query", "SELECT *\nFORM pca", "--state", str(state)])
    assert line == (
        "orchard query: SQL syntax error at line 2, column 8 near 'pca': "
        "Invalid expression / Unexpected token (tables: pca)"
    )


def test_an_unknown_table_or_column_says_where_and_which_tables_exist(state, capsys):
    line = one_error_line(capsys, ["query", "SELECT * FROM pcaa", "--state", str(state)])
    assert line.startswith(
        'orchard query: Catalog Error: Table with name pcaa does not exist! Did you mean "pca"?'
    )
    assert line.endswith("; line 1, column 15 of the SQL as DuckDB ran it: SELECT * FROM pcaa (tables: pca)")
    line = one_error_line(capsys, ["query", "SELECT labl FROM pca", "--state", str(state)])
    assert 'Referenced column "labl" not found' in line and "line 1, column 8 of" in line
    assert cli.main(["query", "SELECT label FROM pca", "--state", str(state)]) == 0


def test_a_query_without_local_state_says_what_to_run(tmp_path, capsys):
    line = one_error_line(capsys, ["query", "SELECT 1", "--state", str(tmp_path)])
    assert line == f"orchard query: {no_catalog(tmp_path)}"


def test_featurize_checks_its_inputs_before_spark(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.subprocess, "call", lambda *a, **k: pytest.fail("spark-submit must not start"))
    monkeypatch.setenv(IMAGENET_ENV, str(tmp_path))  # no weights file there
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    images, out = tmp_path / "images", str(tmp_path / "out")
    line = one_error_line(capsys, ["featurize", "--input", str(images), "--output", out])
    assert line == f"orchard featurize: --input {images} does not exist"
    images.mkdir()
    line = one_error_line(capsys, ["featurize", "--input", str(images), "--output", out])
    assert line.startswith("orchard featurize: --weights imagenet (the default): ImageNet weights file ")
    assert "--weights random" in line
    missing = tmp_path / "weights.h5"
    line = one_error_line(
        capsys, ["featurize", "--input", f"file://{images}", "--output", out, "--weights", str(missing)]
    )
    assert line == f"orchard featurize: --weights file {missing} does not exist"


@pytest.mark.parametrize("command", [["upload", "{folder}"], ["demo", "--images", "{folder}"]])
def test_a_missing_image_folder_is_one_line(command, tmp_path, capsys):
    folder = tmp_path / "no-such-folder"
    args = [part.format(folder=folder) for part in command]
    line = one_error_line(capsys, [*args, "--state", str(tmp_path / "state")])
    assert line == f"orchard {command[0]}: image folder {folder} does not exist"


def test_similar_without_a_photo_or_a_stack_is_one_line(tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    line = one_error_line(capsys, ["similar", str(photo), "--state", str(tmp_path)])
    assert line == f"orchard similar: photo {photo} does not exist"
    photo.write_bytes(b"\xff\xd8")
    line = one_error_line(capsys, ["similar", str(photo), "--state", str(tmp_path)])
    assert line == f"orchard similar: no local stack state under {tmp_path}: run `orchard demo` first"


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "query", broken)
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["query", "SELECT 1"])


def test_the_installed_command_prints_one_line(tmp_path):
    orchard = Path(sys.executable).parent / "orchard"
    command = [str(orchard), "query", "SELECT 1", "--state", str(tmp_path)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"orchard query: {no_catalog(tmp_path)}"]


def test_an_unclosed_quote_across_lines_is_still_one_line(state, capsys):
    line = one_error_line(
        capsys, ["query", "SELECT label\nFROM pca WHERE label = 'Apple", "--state", str(state)]
    )
    assert line.startswith("orchard query: cannot read the SQL: Error tokenizing 'SELECT label FROM pca")
    assert line.endswith("(tables: pca)")


def test_a_column_no_file_holds_reads_as_null_as_in_athena(state):
    later = [name for name, _ in PCA.columns if name not in ("path", "label", "pca")]
    for name in later:
        assert run_query(state, f'SELECT "{name}" FROM pca').rows == [(None,)]
    assert run_query(state, "SELECT path, pca FROM pca").rows == [("s3://b/A/1.jpg", [1.0])]
