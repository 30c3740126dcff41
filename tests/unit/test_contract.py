"""The contract module: its derived forms agree with the facts they derive from."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from itertools import product

import pytest

from orchard_contract import images, layout, tables, times
from orchard_contract.images import IMAGE_GLOB, IMAGE_SUFFIXES, is_image


def glob_alternatives(glob: str) -> list[re.Pattern[str]]:
    """A Hadoop file-name glob of the form *.{a,b} as one regex per alternative (character classes kept)."""
    match = re.fullmatch(r"\*\.\{(.*)\}", glob)
    assert match, glob
    return [re.compile(r".*\." + alternative + "$") for alternative in match.group(1).split(",")]


@pytest.mark.parametrize("suffix", IMAGE_SUFFIXES)
def test_the_glob_and_the_pattern_take_every_suffix_in_any_case(suffix: str) -> None:
    alternatives = glob_alternatives(IMAGE_GLOB)
    for letters in product(*((c.lower(), c.upper()) for c in suffix[1:])):
        name = "Apple/a b" + "." + "".join(letters)
        assert is_image(name), name
        assert any(p.fullmatch(name) for p in alternatives), name


@pytest.mark.parametrize("name", ["a.heic", "a.jpg.txt", "jpg", "a.jp", "a_jpg", "a.pngx", "a.", "a.jpg\n"])
def test_the_glob_and_the_pattern_refuse_other_names(name: str) -> None:
    assert not is_image(name)
    assert not any(p.fullmatch(name) for p in glob_alternatives(IMAGE_GLOB))


def test_run_paths_for_any_root() -> None:
    assert layout.report_path("s3://b/results", "r1") == "s3://b/results/runs/run_id=r1/report.json"
    assert layout.run_path("results/", "pca", "r1") == "results/pca/run_id=r1"
    assert layout.run_path("", "pca", "r1", "x") == "pca/run_id=r1/x"


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [("s3://b/results", "b", "results"), ("s3://b/a/b/", "b", "a/b"), ("s3://b", "b", "")],
)
def test_s3_uris_split_into_bucket_and_key(uri: str, bucket: str, key: str) -> None:
    assert layout.S3Uri.parse(uri) == layout.S3Uri(bucket, key)


@pytest.mark.parametrize("uri", ["/tmp/x", "file:///tmp/x", "s3:///key", "https://b/k"])
def test_other_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="not an s3:// URI"):
        layout.S3Uri.parse(uri)


@pytest.mark.parametrize(
    "text",
    ["2026-11-29T17:00:00Z", "2026-11-29T17:00:00+00:00", "2026-11-29T18:00:00+01:00", "2026-11-29T17:00:00"],
)
def test_times_are_read_as_utc(text: str) -> None:
    assert times.parse_time(text) == datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    assert times.parse_time(times.now_text()).tzinfo == UTC


def test_tables_have_unique_names_columns_and_hive_types() -> None:
    assert len({t.name for t in tables.TABLES}) == len(tables.TABLES)
    hive = re.compile(r"(string|boolean|int|bigint|float|double|timestamp|array<(float|double|string)>)")
    for table in tables.TABLES:
        names = [name for name, _ in table.columns]
        assert len(set(names)) == len(names), table.name
        assert all(hive.fullmatch(kind) for _, kind in table.columns), table.name
    runs = dict(tables.RUNS_COLUMNS)
    assert all(runs[key] == "bigint" for key in tables.COUNT_KEYS)


def test_the_contract_imports_the_standard_library_only() -> None:
    # It ships as a Lambda layer and into the image: nothing there installs its dependencies.
    import sys
    from pathlib import Path

    for module in (images, layout, tables, times):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        imported = {
            name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            )
        }
        assert imported <= set(sys.stdlib_module_names) | {"__future__", "orchard_contract"}, module
