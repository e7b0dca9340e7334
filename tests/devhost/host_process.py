"""Run `python -m devhost start` as a child process on free ports, as a developer would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONT_APPS = Path(__file__).parent / "front_apps"
SAMPLES = Path(__file__).parent / "samples"


@dataclass
class HostProcess:
    process: subprocess.Popen[str]
    url: str = ""
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)

    def log(self) -> str:
        """What the host wrote to stderr so far; all of it once the process has exited."""
        if self.process.poll() is not None:
            for pump in self.pumps:
                pump.join(timeout=10)
        return "\n".join(self.stderr)

    def wait_for_log(self, text: str, timeout_s: float = 10) -> str:
        """The log once it contains `text`: the host answers before its log reader sees
        the lines it wrote, so a test that reads the log right after a response must wait."""
        deadline = time.monotonic() + timeout_s
        while text not in (log := self.log()):
            assert time.monotonic() < deadline, f"{text!r} never appeared in the host log"
            time.sleep(0.02)
        return log

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or a supervisor would; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()  # reaped, not left running behind the failure
                raise AssertionError(f"devhost did not stop within 30 s:\n{self.log()}") from None
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the host dies without any chance to clean up."""
        self.process.kill()
        self.process.wait(timeout=30)


def start_host(
    app_dir: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 60
) -> HostProcess:
    cmd = [
        sys.executable,
        "-m",
        "devhost",
        "start",
        "--port",
        "0",
        "--app-dir",
        str(app_dir),
        *args,
    ]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        cmd, cwd=app_dir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    host = HostProcess(proc)
    ready = threading.Event()

    def pump(stream: object, sink: list[str], watch: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))
            if watch and line.startswith("ready "):
                host.url = line.split(" ", 1)[1].strip()
                ready.set()
        ready.set()

    host.pumps = [
        threading.Thread(target=pump, args=(proc.stdout, host.stdout, True), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, host.stderr, False), daemon=True),
    ]
    for thread in host.pumps:
        thread.start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            host.kill()
            raise TimeoutError(f"devhost did not start:\n{host.log()}")
    if not host.url:
        proc.wait(timeout=30)
    return host


@contextmanager
def running_host(
    app_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[HostProcess]:
    host = start_host(app_dir, *args, env=env)
    if not host.url:
        raise RuntimeError(f"devhost exited with {host.process.returncode}:\n{host.log()}")
    try:
        yield host
    finally:
        host.stop()


def app_copy(source: Path, dest: Path, values: dict[str, str] | None = None) -> Path:
    """A copy of an app folder with its own local.settings.json (state stays in `dest`)."""
    import json
    import shutil

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", ".devhost"))
    settings = {
        "IsEncrypted": False,
        "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", **(values or {})},
    }
    (dest / "local.settings.json").write_text(json.dumps(settings))
    return dest
