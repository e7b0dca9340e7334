"""run-stack's options for a supervising program (tests/e2e): state out of the checkout, the
example's settings, a ready file with every URL and key, and a stop when stdin closes."""

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.devhost.test_new_user_make_run import processes_mentioning

ROOT = Path(__file__).resolve().parents[2]

APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="setting")
def setting(req: func.HttpRequest) -> str:
    import os

    return os.environ.get(req.params["name"], "")
"""

pytestmark = pytest.mark.slow


def test_a_supervised_stack_keeps_out_of_the_checkout_hands_over_its_keys_and_stops_on_eof(
    tmp_path: Path,
):
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "function_app.py").write_text(APP)
    shutil.copy(ROOT / "local.settings.json.example", root)
    (root / "node_modules").symlink_to(ROOT / "node_modules")
    state, ready_file = tmp_path / "state", tmp_path / "ready.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVHOST_", "TASKHUB"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "run-stack",
            "--root",
            str(root),
            "--no-sandboxes",
            "--port",
            "0",
            "--azurite-ports",
            "0,0,0",
            "--virtual-clock",
            "--enable-auth",
            "--state-dir",
            str(state),
            "--settings",
            "example",
            "--ready-file",
            str(ready_file),
            "--stop-on-stdin-eof",
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "TASKHUB_NAME": "fromcaller"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("ready "):
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert ready.wait(120) and proc.poll() is None, "\n".join(lines)
        info = json.loads(ready_file.read_text())
        assert stat.S_IMODE(ready_file.stat().st_mode) == 0o600  # it holds secrets
        url, keys = info["devhost"]["url"], info["devhost"]["keys"]
        assert lines[-1] == f"ready {url}"
        assert info["stateDir"] == str(state) and info["sandboxes"] == {}
        assert info["devhost"]["virtualClock"] is True
        assert info["devhost"]["clockUrl"] == f"{url}/admin/clock"
        # The keys it lists are the keys devhost enforces; none was printed.
        route = f"{url}/api/setting"
        assert requests.get(route, params={"name": "X"}, timeout=10).status_code == 401
        for name in ("function", "master"):
            headers = {"x-functions-key": keys[name]}
            assert requests.get(route, params={"name": "X"}, headers=headers, timeout=10).ok
        moved = requests.post(
            f"{url}/admin/clock",
            json={"advance": 60},
            headers={"x-functions-key": keys["master"]},
            timeout=10,
        )
        assert moved.status_code == 200, moved.text
        assert not any(key in "\n".join(lines) for key in keys.values())

        # The app sees the example's values (the caller's environment still wins) and the
        # stack's own: both as the ready file lists them.
        def seen(name: str) -> str:
            headers = {"x-functions-key": keys["function"]}
            return requests.get(route, params={"name": name}, headers=headers, timeout=10).text

        settings = info["appSettings"]
        assert seen("CSPFLOW_SMTP_PORT") == settings["CSPFLOW_SMTP_PORT"] == "2525"
        assert seen("TASKHUB_NAME") == settings["TASKHUB_NAME"] == "fromcaller"
        assert seen("AzureWebJobsStorage") == settings["AzureWebJobsStorage"]
        assert info["azurite"]["table"] in settings["AzureWebJobsStorage"]

        # Nothing in the checkout: state under --state-dir, no local.settings.json made.
        assert sorted(p.name for p in root.iterdir()) == [
            "function_app.py",
            "local.settings.json.example",
            "node_modules",
        ]
        assert (state / "azurite").is_dir() and (state / "devhost" / "durable.sqlite").exists()
        assert processes_mentioning(state)  # Azurite and devhost name it

        assert proc.stdin is not None
        proc.stdin.close()  # the supervising process is gone
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    assert "[stack] stdin closed; stopping" in lines
    assert "[stack] stopped" in lines
    assert processes_mentioning(state) == []
