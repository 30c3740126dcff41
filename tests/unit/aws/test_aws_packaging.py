"""What each function imports is there on Lambda: the standard library, the runtime's boto3 and botocore, the
function's own requirements.txt, a module beside it, or a layer the template attaches to it. A layer or a
requirement left out fails here, not on AWS.

On Lambda the function's folder is /var/task, its layers' python/ folders make /opt/python, and the Python
runtimes include the AWS SDK (https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html,
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from aws_support import REPO
from packaging.requirements import Requirement

from orchard.local.invoke import layer_folder, layer_folders
from orchard.local.template import load_template

RUNTIME_PACKAGES = frozenset({"boto3", "botocore"})
# Listed by the tests' Python 3.11, gone from the functions' 3.12 (PEP 594, PEP 632).
REMOVED_IN_312 = frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"})
STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) - REMOVED_IN_312


@dataclass(frozen=True)
class Package:
    """What Lambda unpacks for a function: a code folder or a layer's Python folder, with its requirements."""

    folder: Path

    def sources(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*.py") if "__pycache__" not in p.parts)

    def modules(self) -> set[str]:
        """The top-level modules the folder itself provides (its .py files and its packages)."""
        return {p.stem for p in self.folder.glob("*.py")} | {
            p.name for p in self.folder.iterdir() if p.is_dir() and any(p.rglob("*.py"))
        }

    def required_modules(self) -> set[str]:
        """The top-level modules of the distributions its requirements.txt installs."""
        path = self.folder / "requirements.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        names = [Requirement(line.split("#")[0]).name for line in lines if line.split("#")[0].strip()]
        provided = installed_modules()
        missing = [name for name in names if normalized(name) not in provided]
        assert not missing, f"{path}: install {missing} here to check what they provide"
        return {module for name in names for module in provided[normalized(name)]}


@dataclass(frozen=True)
class Function:
    logical_id: str
    properties: Mapping[str, Any]
    code: Package
    layers: tuple[Package, ...]

    @property
    def runtime(self) -> str:
        runtime: str = self.properties.get("Runtime", globals_of(template())["Runtime"])
        return runtime


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


@cache
def installed_modules() -> dict[str, set[str]]:
    """Distribution (normalized name) -> the top-level modules it installs, for what is installed here."""
    found: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            found.setdefault(normalized(distribution), set()).add(module)
    return found


@cache
def template() -> dict[str, Any]:
    return load_template()


def globals_of(parsed: Mapping[str, Any]) -> Mapping[str, Any]:
    found: Mapping[str, Any] = parsed.get("Globals", {}).get("Function", {})
    return found


def functions() -> list[Function]:
    return [
        Function(
            name,
            resource["Properties"],
            Package(REPO / resource["Properties"]["CodeUri"]),
            tuple(Package(folder) for folder in layer_folders(template(), resource, REPO)),
        )
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]


def layers() -> dict[str, Mapping[str, Any]]:
    return {n: r for n, r in template()["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"}


def imports(source: Path) -> Iterator[str]:
    """The top-level module of each import; a relative one as "." (a top-level handler cannot import so)."""
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield "." if node.level else str(node.module).split(".")[0]


def unresolved(package: Package, available: AbstractSet[str]) -> list[str]:
    return [
        f"{source.relative_to(REPO)}: {module}"
        for source in package.sources()
        for module in imports(source)
        if module not in available
    ]


@pytest.mark.parametrize("function", functions(), ids=lambda f: f.logical_id)
def test_every_import_of_a_function_resolves_on_lambda(function: Function):
    available = STANDARD_LIBRARY | RUNTIME_PACKAGES
    for package in (function.code, *function.layers):
        available |= package.modules() | package.required_modules()

    assert unresolved(function.code, available) == []


@pytest.mark.parametrize("name", sorted(layers()))
def test_every_import_of_a_layer_resolves_on_lambda(name: str):
    package = Package(layer_folder(template(), name, REPO))
    available = STANDARD_LIBRARY | RUNTIME_PACKAGES | package.modules() | package.required_modules()

    assert package.sources()
    assert unresolved(package, available) == []


def test_functions_run_python_312_or_newer_with_layers_built_for_it():
    for function in functions():
        match = re.fullmatch(r"python3\.(\d+)", function.runtime)
        assert match and int(match.group(1)) >= 12, (function.logical_id, function.runtime)
        for layer in [*globals_of(template()).get("Layers", []), *function.properties.get("Layers", [])]:
            resource = layers()[layer["Ref"]]
            assert function.runtime in resource["Properties"]["CompatibleRuntimes"], layer
            assert resource.get("Metadata", {}).get("BuildMethod", function.runtime) == function.runtime


def test_each_handler_is_a_function_of_its_module():
    for function in functions():
        module, handler = function.properties["Handler"].rsplit(".", 1)
        tree = ast.parse((function.code.folder / f"{module}.py").read_text())
        assert handler in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, function.logical_id


def test_modules_beside_the_handlers_have_names_of_their_own():
    """Locally every function runs in one process (orchard.local.invoke): a module name two folders share, or
    one that shadows the standard library or a requirement, would import the wrong file there or on Lambda."""
    handlers = {f.properties["Handler"].rsplit(".", 1)[0] for f in functions()}
    packages = [package for f in functions() for package in (f.code, *f.layers)]
    folders = {package.folder: package for package in packages}
    required = set().union(*(package.required_modules() for package in folders.values()))
    seen: dict[str, Path] = {}
    for folder, package in folders.items():
        for module in package.modules() - handlers:
            assert module not in seen, (module, folder, seen.get(module))
            assert module not in STANDARD_LIBRARY | RUNTIME_PACKAGES | required, (module, folder)
            seen[module] = folder
