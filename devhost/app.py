"""Load a v2-model Functions app directory the way the Python worker indexes it.

`load_app(path)` imports the app's script (`function_app.py`, or `PYTHON_SCRIPT_FILE_NAME`),
finds the single `azure.functions.FunctionRegister` among its globals, calls
`get_functions()` once and sorts the functions by trigger:

- orchestrators / activities / entities, keyed by their Durable name (the trigger's
  `orchestration` / `activity` / `entity_name` override, else the function name), looked up
  case-insensitively like the Durable extension (`FunctionName` compares ignoring case);
- HTTP, timer and queue functions as the library's `func.Function` objects, for the front.

The import works from any current directory: the app directory goes first on `sys.path` so
its own packages (`triggers`, `workflows`, ...) resolve. `host.json` is read alongside.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

SCRIPT_ENV = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT = "function_app.py"

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
QUEUE_TRIGGER = "queueTrigger"


class AppLoadError(Exception):
    """The app directory cannot be loaded; the message says what is wrong and where."""


class FunctionNotFoundError(LookupError):
    """A Durable function name that the app does not define (message as the extension's)."""


@dataclass(frozen=True)
class DurableFunction:
    """One orchestrator, activity or entity function as the engine invokes it."""

    name: str
    """The Durable name (override or function name), original case."""
    function: func.Function
    trigger_param: str
    """The parameter the trigger value is passed as (the trigger binding's `name`)."""

    @property
    def user_function(self) -> Callable[..., Any]:
        fn: Callable[..., Any] = self.function.get_user_function()
        return fn

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


class Registry(Mapping[str, DurableFunction]):
    """Durable functions of one kind, looked up by name ignoring case."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._by_key: dict[str, DurableFunction] = {}

    def add(self, entry: DurableFunction) -> None:
        key = entry.name.lower()
        if key in self._by_key:
            raise AppLoadError(
                f"two {self.kind} functions are named {entry.name!r} "
                f"({self._by_key[key].function.get_function_name()!r} and "
                f"{entry.function.get_function_name()!r}); Durable names ignore case"
            )
        self._by_key[key] = entry

    def __getitem__(self, name: str) -> DurableFunction:
        try:
            return self._by_key[name.lower()]
        except KeyError:
            raise FunctionNotFoundError(
                f"The function '{name}' doesn't exist, is disabled, or is not an "
                f"{self.kind} function. Additional info: the app defines "
                f"{sorted(e.name for e in self._by_key.values()) or 'none'}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_key

    def __iter__(self) -> Iterator[str]:
        return (e.name for e in self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)


@dataclass
class LoadedApp:
    """An indexed app: registries for the engine, plain functions for the front."""

    root: Path
    module: ModuleType
    register: func.FunctionRegister
    host_json: dict[str, Any]
    functions: list[func.Function]
    orchestrators: Registry = field(default_factory=lambda: Registry("orchestrator"))
    activities: Registry = field(default_factory=lambda: Registry("activity"))
    entities: Registry = field(default_factory=lambda: Registry("entity"))
    http_functions: list[func.Function] = field(default_factory=list)
    timer_functions: list[func.Function] = field(default_factory=list)
    queue_functions: list[func.Function] = field(default_factory=list)

    @property
    def durable_settings(self) -> dict[str, Any]:
        """host.json `extensions.durableTask` (empty when absent)."""
        ext = self.host_json.get("extensions") or {}
        section = ext.get("durableTask") or {}
        return dict(section) if isinstance(section, dict) else {}


def load_app(path: str | os.PathLike[str], *, script: str | None = None) -> LoadedApp:
    """Import the app at `path` and index its functions. Raises `AppLoadError`."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise AppLoadError(f"app directory {root} does not exist")
    script_name = script or os.environ.get(SCRIPT_ENV) or DEFAULT_SCRIPT
    script_path = root / script_name
    if not script_path.is_file():
        raise AppLoadError(
            f"{script_path} not found: a v2-model app needs {script_name} "
            f"(set {SCRIPT_ENV} to use another file name)"
        )
    host_json = _read_host_json(root)
    module = _import_script(root, script_path)
    register = _find_register(module, script_path)
    try:
        functions = register.get_functions()
    except Exception as exc:
        raise AppLoadError(f"{script_path}: indexing the functions failed: {exc}") from exc
    app = LoadedApp(
        root=root, module=module, register=register, host_json=host_json, functions=functions
    )
    for function in functions:
        _classify(app, function)
    return app


def _read_host_json(root: Path) -> dict[str, Any]:
    host_path = root / "host.json"
    if not host_path.is_file():
        return {}
    try:
        data = json.loads(host_path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise AppLoadError(f"{host_path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AppLoadError(f"{host_path} must hold a JSON object")
    return data


def _import_script(root: Path, script_path: Path) -> ModuleType:
    root_text = str(root)
    if root_text in sys.path:
        sys.path.remove(root_text)
    sys.path.insert(0, root_text)
    module_name = script_path.stem
    # A second app (tests load several) must not reuse the first one's cached module.
    sys.modules.pop(module_name, None)
    spec = importlib.util.spec_from_file_location(module_name, script_path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"{script_path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise AppLoadError(_import_failure(root, script_path, exc)) from exc
    return module


def _import_failure(root: Path, script_path: Path, exc: BaseException) -> str:
    """What went wrong importing the app, where in the app's own code, and what to do."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve().is_relative_to(root):
            where = f" (at {frame.filename}:{frame.lineno})"
            break
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" (at {exc.filename}:{exc.lineno})"
    hint = "fix it and start again"
    if isinstance(exc, ModuleNotFoundError):
        hint = (
            f"if {exc.name!r} is a package, add it to requirements.txt and run `make setup`; "
            "if it is the app's own module, fix the import"
        )
    return f"importing {script_path} failed{where}: {type(exc).__name__}: {exc}; {hint}"


def _find_register(module: ModuleType, script_path: Path) -> func.FunctionRegister:
    found = {
        id(value): (name, value)
        for name, value in vars(module).items()
        if isinstance(value, func.FunctionRegister)
    }
    if not found:
        raise AppLoadError(
            f"{script_path} defines no FunctionApp (expected one azure.functions.FunctionApp "
            "or azure.durable_functions.DFApp at module level)"
        )
    if len(found) > 1:
        names = sorted(name for name, _ in found.values())
        raise AppLoadError(f"{script_path} defines several function apps: {names}; keep one")
    ((_, register),) = found.values()
    return register


def _classify(app: LoadedApp, function: func.Function) -> None:
    trigger = function.get_trigger()
    if trigger is None:
        raise AppLoadError(f"function {function.get_function_name()!r} has no trigger")
    kind = trigger.get_binding_name()
    fn_name = function.get_function_name()
    if kind == ORCHESTRATION_TRIGGER:
        name = str(getattr(trigger, "orchestration", None) or fn_name)
        app.orchestrators.add(DurableFunction(name, function, trigger.name))
    elif kind == ACTIVITY_TRIGGER:
        name = str(getattr(trigger, "activity", None) or fn_name)
        app.activities.add(DurableFunction(name, function, trigger.name))
    elif kind == ENTITY_TRIGGER:
        name = str(getattr(trigger, "entity_name", None) or fn_name)
        app.entities.add(DurableFunction(name, function, trigger.name))
    elif kind == HTTP_TRIGGER:
        app.http_functions.append(function)
    elif kind == TIMER_TRIGGER:
        app.timer_functions.append(function)
    elif kind == QUEUE_TRIGGER:
        app.queue_functions.append(function)
    else:
        raise AppLoadError(
            f"function {fn_name!r} uses a {kind!r} trigger, which devhost does not serve "
            "(supported: HTTP, timer, queue, orchestration, activity, entity)"
        )
