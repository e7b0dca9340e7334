"""An app folder with its own top-level `shared` package (a common Functions layout) runs
under `python -m devhost start` with its own package: devhost imports nothing of cspflow's."""

import ast
import time
from pathlib import Path

import pytest
import requests

from tests.devhost.host_process import FRONT_APPS, app_copy, running_host

pytestmark = pytest.mark.slow

GREETING = "Hello, ada, from the app's own shared package"


def test_http_functions_and_activities_import_the_apps_own_shared_package(tmp_path):
    app = app_copy(FRONT_APPS / "own_shared", tmp_path / "app")
    with running_host(app) as host:
        resp = requests.get(f"{host.url}/api/greet/ada", timeout=10)
        assert (resp.status_code, resp.text) == (200, GREETING)

        started = requests.post(f"{host.url}/api/greetings/ada", timeout=10)
        assert started.status_code == 202
        status_url = started.json()["statusQueryGetUri"]
        deadline = time.monotonic() + 20
        while (status := requests.get(status_url, timeout=10).json())["runtimeStatus"] in (
            "Pending",
            "Running",
        ):
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", GREETING)


def test_devhost_imports_cspflows_packages_only_in_the_make_run_supervisor():
    """`stack.py` (`make run`) starts cspflow's sandboxes; nothing else in devhost may import
    cspflow's `shared` or `sandbox`, or an app with packages of those names would break."""
    root = Path(__file__).resolve().parents[2]
    found: dict[str, list[str]] = {}
    for path in sorted((root / "devhost").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            hits = [n for n in names if n.split(".")[0] in ("shared", "sandbox")]
            if hits:
                found.setdefault(str(path.relative_to(root)), []).extend(hits)
    assert found == {"devhost/stack.py": ["sandbox.common.demo"]}
