"""The Partner Center sandbox stands in for Microsoft: it imports nothing from the app it is
tested against (shared/, triggers/, workflows/, activities/), so what the app's tests prove
cannot come from the app agreeing with itself. Checked on the source, not by importing it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("sandbox/partner_center", "sandbox/common")
APP_PACKAGES = frozenset({"shared", "triggers", "workflows", "activities", "function_app", "tests"})


def app_imports(source: str) -> list[str]:
    """Every absolute import of an app package in `source`, including
    importlib.import_module("...") and __import__("...") with a literal name."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [str(first.value)]
        found.extend(n for n in names if n.split(".")[0] in APP_PACKAGES)
    return found


def test_the_partner_center_sandbox_and_its_common_code_import_nothing_from_the_app():
    files = [path for folder in SCANNED for path in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 20  # the scan really ran over the sandbox
    found = {
        str(path.relative_to(ROOT)): hits
        for path in files
        if (hits := app_imports(path.read_text()))
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "import shared.clock",
        "from shared.config import Settings",
        "from triggers import ops",
        "import workflows.connectivity as w",
        "from activities.connectivity import x",
        "import importlib\nimportlib.import_module('shared.partner_center')",
        "def f():\n    from tests.sandbox.partner_center.harness import Harness",
    ],
)
def test_the_scan_sees_every_form_of_app_import(source):
    assert app_imports(source)


@pytest.mark.parametrize(
    "source",
    ["from sandbox.common.clock import Clock", "from . import rules", "import sharedlib"],
)
def test_the_scan_leaves_the_sandboxes_own_imports_alone(source):
    assert app_imports(source) == []
