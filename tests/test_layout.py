"""The layout docs/architecture.md describes, checked: every workflow and activity module is
registered and tested, every activity goes through the boundary, and data flows one way."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from activities import BLUEPRINTS as ACTIVITY_BLUEPRINTS
from activities.boundary import Activity
from tests.app_functions import functions_by_name
from workflows import BLUEPRINTS as WORKFLOW_BLUEPRINTS

ROOT = Path(__file__).resolve().parents[1]
KITS = {"__init__", "boundary", "durable"}
APP_PACKAGES = {"triggers", "workflows", "activities", "shared"}

# What each layer may import, of the app's own packages and the local tools.
ALLOWED: dict[str, set[str]] = {
    "shared": {"shared"},
    "activities": {"shared", "activities"},
    "workflows": {"shared", "activities", "workflows"},
    "triggers": {"shared", "workflows", "triggers"},
}
LOCAL_TOOLS = {"devhost", "sandbox", "tests", "bench", "function_app"}


def modules(package: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / package).glob("*.py") if p.stem not in KITS)


@pytest.mark.parametrize(
    ("package", "blueprints"),
    [("workflows", WORKFLOW_BLUEPRINTS), ("activities", ACTIVITY_BLUEPRINTS)],
)
def test_every_module_is_registered_and_has_its_test_file(package, blueprints):
    for name in modules(package):
        module = importlib.import_module(f"{package}.{name}")
        assert module.bp in blueprints, f"{package}/{name}.py: add its bp to {package}/__init__"
        test = ROOT / "tests" / package / f"test_{name}.py"
        assert test.is_file(), f"{package}/{name}.py has no {test.relative_to(ROOT)}"


def test_every_activity_the_app_registers_goes_through_the_boundary():
    boundary = {
        value.name
        for name in modules("activities")
        for value in vars(importlib.import_module(f"activities.{name}")).values()
        if isinstance(value, Activity)
    }
    registered = {
        name
        for name, function in functions_by_name().items()
        if function.get_bindings_dict()["bindings"][0]["type"] == "activityTrigger"
    }
    assert registered == boundary


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_is_below_it(layer):
    for path in sorted((ROOT / layer).rglob("*.py")):
        own = imports_of(path) & (APP_PACKAGES | LOCAL_TOOLS)
        wrong = own - ALLOWED[layer]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"
