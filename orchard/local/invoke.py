"""Lambda Invoke, bound in-process: the real handlers answer moto's Step Functions interpreter.

moto cannot run Lambda code without Docker, so a botocore ``before-send.lambda.Invoke`` handler answers the
Invoke call itself: it runs the handler with the function's environment and returns what Lambda returns, an
unhandled exception included (``X-Amz-Function-Error: Unhandled``, payload with errorType), so the
definition's Retry and Catch see what they would see on AWS.

A handler is imported as Lambda imports it: its code folder (Lambda's /var/task) and its layers' Python
folders (Lambda's /opt/python) on sys.path, both taken from template.yaml
(https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse

from orchard.local.function_env import function_environment
from orchard.local.template import ACCOUNT_ID, REGION, TEMPLATE, load_template

Handler = Callable[[dict[str, Any], Any], Any]
# The local function whose code runs now (None outside one): tests attribute the AWS calls made to its role.
running_function: ContextVar[str | None] = ContextVar("running_function", default=None)


class LocalFunctionError(Exception):
    """An error whose name Step Functions should see (``errorType``), e.g. States.TaskFailed."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class ServiceFaultError(Exception):
    """Makes the Invoke API itself fail (HTTP 500 ServiceException): the task sees Lambda.ServiceException."""


@dataclass(frozen=True)
class Context:
    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def layer_folder(template: Mapping[str, Any], logical_id: str, base: Path) -> Path:
    """The layer's folder that Lambda extracts to /opt/python: ContentUri itself for a layer sam build builds
    (Metadata BuildMethod: it copies the content into python/), else ContentUri's python/."""
    resource = template["Resources"][logical_id]
    content = base / resource["Properties"]["ContentUri"]
    return content if "BuildMethod" in resource.get("Metadata", {}) else content / "python"


def layer_folders(template: Mapping[str, Any], function: Mapping[str, Any], base: Path) -> list[Path]:
    """The folders of the function's layers, Globals' first."""
    globals_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    folders = []
    for layer in [*globals_layers, *function.get("Properties", {}).get("Layers", [])]:
        if not isinstance(layer, Mapping) or set(layer) != {"Ref"}:
            raise ValueError(f"only layers of the template itself can run locally, not {layer!r}")
        folders.append(layer_folder(template, layer["Ref"], base))
    return folders


def import_path(code_dir: Path, template_path: Path = TEMPLATE) -> list[Path]:
    """What Lambda puts on sys.path for the code in code_dir: the folder, then its functions' layers."""
    template, base = load_template(template_path), template_path.parent
    folders = [code_dir]
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if (base / resource["Properties"]["CodeUri"]).resolve() == code_dir.resolve():
            folders += [f for f in layer_folders(template, resource, base) if f not in folders]
    return folders


def add_import_path(folders: list[Path]) -> None:
    """Put the folders first on sys.path, in their order (the functions share this process's sys.path)."""
    for folder in reversed(folders):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def load_handler(code_dir: Path, handler: str) -> Handler:
    """``app.lambda_handler`` from functions/<name>/app.py, imported under a unique module name."""
    module_name, function = handler.rsplit(".", 1)
    unique = f"orchard_local_{code_dir.name}_{module_name}"
    module: ModuleType | None = sys.modules.get(unique)
    if module is None:
        add_import_path(import_path(code_dir))
        spec = importlib.util.spec_from_file_location(unique, code_dir / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # dataclasses look their module up while the class is created
        spec.loader.exec_module(module)
    loaded: Handler = getattr(module, function)
    return loaded


class _Body:
    """What botocore reads a response body through."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, *_: Any) -> bytes:
        data, self.data = self.data, b""
        return data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


@dataclass
class Functions:
    """Local functions by name; ``faults`` (tests) make the next invocations of a function fail."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    faults: dict[str, list[Exception]] = field(default_factory=dict)
    invocations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, handler: Handler, environment: Mapping[str, str] | None = None) -> None:
        self.handlers[name] = handler
        self.environments[name] = dict(environment or {})

    def inject(self, name: str, *faults: Exception) -> None:
        self.faults.setdefault(name, []).extend(faults)

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self.invocations.append(name)
        pending = self.faults.get(name)
        if pending:
            raise pending.pop(0)
        running = running_function.set(name)
        try:
            if not self.environments[name]:  # the job runner: a run per job, as on EMR Serverless
                return self.handlers[name](event, Context(name))
            # One invocation at a time: the handlers share their modules' state here, sandboxes do not.
            with self.lock, function_environment(self.environments[name]):
                return self.handlers[name](event, Context(name))
        finally:
            running_function.reset(running)

    def before_send(self, request: Any, **_: Any) -> AWSResponse:
        name = unquote(request.url.split("/functions/", 1)[1].split("/", 1)[0]).rsplit(":function:", 1)[-1]
        name = name.split(":", 1)[0]  # drop a qualifier
        body = request.body or b"{}"
        event = json.loads(body.decode() if isinstance(body, bytes) else body)
        try:
            payload, headers, status = self.invoke(name, event), {}, 200
        except ServiceFaultError as e:
            error = {"Type": "Service", "message": str(e)}
            return _response(request.url, 500, {"x-amzn-ErrorType": "ServiceException"}, error)
        except Exception as e:
            error_type = e.error_type if isinstance(e, LocalFunctionError) else type(e).__name__
            payload = {
                "errorMessage": str(e),
                "errorType": error_type,
                "stackTrace": traceback.format_tb(e.__traceback__)[-3:],
            }
            headers, status = {"X-Amz-Function-Error": "Unhandled"}, 200
        return _response(request.url, status, {"X-Amz-Executed-Version": "$LATEST", **headers}, payload)


def _response(url: str, status: int, headers: dict[str, str], payload: Any) -> AWSResponse:
    data = json.dumps(payload, default=str).encode()
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4()), **headers}
    return AWSResponse(url, status, headers, _Body(data))
