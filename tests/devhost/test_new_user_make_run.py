"""A new user's first `make run`: a fresh clone, the whole stack up with the demo partner,
the connectivity check started over HTTP and every system ok, Ctrl-C, everything stopped.
Plus the three failures `make run` must explain.

The clone reuses this checkout's .venv and node_modules (symlinked; make told with `-o` that
they are up to date) so the test needs no network and no minutes of `pip install`. Set
CSPFLOW_NEW_USER_FULL_SETUP=1 to let the clone set itself up from scratch instead, exactly as
a new user's first `make run` does.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
FULL_SETUP = os.environ.get("CSPFLOW_NEW_USER_FULL_SETUP") == "1"
FREE_PORTS = [
    "--port",
    "0",
    "--azurite-ports",
    "0,0,0",
    "--partner-center-port",
    "0",
    "--stripe-port",
    "0",
    "--mail-port",
    "0",
    "--mail-smtp-port",
    "0",
]

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    pump: threading.Thread | None = None

    def text(self) -> str:
        """The output so far; all of it once the process has exited (the reader thread may
        still be behind the process's last lines when `wait()` returns)."""
        if self.process.poll() is not None and self.pump is not None:
            self.pump.join(timeout=30)
        return "\n".join(self.lines)

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the foreground process group, as a terminal sends it."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)


def launch(cmd: list[str], cwd: Path) -> Stack:
    env = {k: v for k, v in os.environ.items() if k != "AzureWebJobsStorage"}
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    stack = Stack(proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line.rstrip("\n"))
            if line.startswith("ready "):
                stack.url = line.split(" ", 1)[1].strip()
                stack.ready.set()
        stack.ready.set()

    stack.pump = threading.Thread(target=pump, daemon=True)
    stack.pump.start()
    return stack


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "cspflow"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    if not FULL_SETUP:
        (target / ".venv").symlink_to(ROOT / ".venv")
        (target / "node_modules").symlink_to(ROOT / "node_modules")
    yield target


def make_run(clone: Path) -> list[str]:
    reuse = [] if FULL_SETUP else ["-o", ".venv/.installed", "-o", "node_modules/.installed"]
    return ["make", *reuse, "run", f"RUN_ARGS={' '.join(FREE_PORTS)}"]


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def processes_mentioning(checkout: Path) -> list[str]:
    """Live processes (from the process table, /proc) that run in `checkout` or name it.

    Every process a stack starts does: make and the supervisor run in it, and Azurite's
    --location, the sandboxes' --data, devhost's --app-dir and the clone's .venv python name
    it. After a stop none may be left: a survivor would be an orphan, since each child runs
    in its own session and Ctrl-C reaches only the supervisor."""
    text = str(checkout)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "cmdline").read_bytes()  # empty for a zombie: it is dead
            cwd = os.readlink(proc / "cwd") if raw else ""
        except OSError:
            continue  # exited meanwhile
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if text in cmdline or cwd == text or cwd.startswith(f"{text}/"):
            found.append(f"{proc.name}: {cmdline}")
    return found


def _wait_done(url: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = requests.get(url, timeout=10).json()
        if status["runtimeStatus"] not in ("Pending", "Running") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_a_fresh_clone_runs_the_stack_checks_connectivity_and_stops_on_ctrl_c(clone: Path):
    stack = launch(make_run(clone), clone)
    try:
        assert stack.ready.wait(600 if FULL_SETUP else 120), stack.text()
        assert stack.url, stack.text()
        started_here = processes_mentioning(clone)
        for part in (
            "make",
            "devhost run-stack",
            "azurite",
            "sandbox partner-center",
            "sandbox stripe",
            "sandbox mail",
            "devhost start",
        ):
            assert any(part in line for line in started_here), (part, started_here)
        assert (clone / "local.settings.json").exists()  # set up on first use
        assert "created local.settings.json" in stack.text()
        assert requests.get(f"{stack.url}/api/health", timeout=10).json()["status"] == "ok"

        # The operator's first check, as the README gives it: every system answers, through
        # the settings `make run` took from the sandboxes (the local.settings.json values
        # are placeholders no sandbox accepts).
        started = requests.post(f"{stack.url}/api/ops/connectivity-checks", timeout=30)
        assert started.status_code == 202, started.text
        status = _wait_done(started.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
        report = status["output"]
        checks = {c["name"]: c for c in report["checks"]}
        assert set(checks) == {"partner_center", "stripe", "storage"}
        assert all(c["ok"] for c in checks.values()), report
        # The seeded demo partner: three customers on each side.
        assert checks["partner_center"]["detail"].endswith("3 customer(s) on the first page")
        assert checks["stripe"]["detail"].endswith("3 customer(s) on the first page")
        # The mail sandbox's inbox answers where the stack said it is (README: where to read
        # the mail), and the app was wired to its SMTP side with STARTTLS and AUTH.
        mail_url = next(
            line.rsplit(" ", 1)[1]
            for line in stack.lines
            if line.startswith("[stack] mail sandbox ready at ")
        )
        assert requests.get(f"{mail_url}/api/messages", timeout=10).json()["count"] == 0
        smtp = requests.get(f"{mail_url}/api/server", timeout=10).json()["smtp"]
        assert smtp["starttls"] and smtp["auth"]
    finally:
        if stack.process.poll() is None:
            stack.interrupt()
    assert "[stack] stopped" in stack.text()
    assert "Stopping devhost" in stack.text()
    assert "Unclosed" not in stack.text()  # the Durable client's session is closed too
    assert not _port_open(stack.url)
    assert processes_mentioning(clone) == []  # Ctrl-C left no orphan behind
    # Secrets went to devhost through its environment, never to the terminal.
    connection = json.loads((clone / ".sandbox/partner-center/connection.json").read_text())
    stripe = json.loads((clone / ".sandbox/stripe/credentials.json").read_text())
    mail = json.loads((clone / ".sandbox/mail/connection.json").read_text())
    for secret in (
        connection["clientSecret"],
        connection["refreshToken"],
        stripe["apiKey"],
        stripe["webhookSecret"],
        mail["password"],
    ):
        assert secret not in stack.text()


def _fake_root(tmp_path: Path, app_source: str, with_node_modules: bool) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "function_app.py").write_text(app_source)
    shutil.copy(ROOT / "local.settings.json.example", root / "local.settings.json.example")
    if with_node_modules:
        (root / "node_modules").symlink_to(ROOT / "node_modules")
    return root


def run_stack(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "run-stack",
            "--root",
            str(root),
            "--no-sandboxes",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_port_in_use_names_the_port_and_the_option(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        root = _fake_root(tmp_path, "", with_node_modules=True)
        result = run_stack(root, "--port", str(port), "--azurite-ports", "0,0,0")
    assert result.returncode == 1
    assert f"port {port} (devhost) is in use" in result.stderr
    assert "--port" in result.stderr


def test_a_missing_azurite_says_to_run_make_setup(tmp_path: Path):
    root = _fake_root(tmp_path, "", with_node_modules=False)
    result = run_stack(root, "--port", "0", "--azurite-ports", "0,0,0")
    assert result.returncode == 1
    assert "Azurite is not installed" in result.stderr
    assert "make setup" in result.stderr


def test_a_broken_app_says_what_is_wrong_and_stops_azurite(tmp_path: Path):
    root = _fake_root(tmp_path, "import no_such_module_anywhere\n", with_node_modules=True)
    result = run_stack(root, "--port", "0", "--azurite-ports", "0,0,0")
    assert result.returncode == 1
    assert "devhost did not start" in result.stderr
    assert "No module named 'no_such_module_anywhere'" in result.stderr
    assert "[stack] stopped" in result.stdout
    assert processes_mentioning(root) == []  # Azurite (--location in root) is gone
