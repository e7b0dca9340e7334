"""Azurite (the npm package) as a child process: started, waited for, stopped.

Used by `make run` (devhost.stack) and by the test fixture. Ports may be 0: Azurite then
binds free ports and prints them ("... successfully listening at http://127.0.0.1:PORT"),
which is how tests avoid colliding with each other or with a developer's `make run`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# The well-known development account (public, documented by Microsoft for the emulator).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


class AzuriteError(RuntimeError):
    """Azurite is missing or did not start; the message says what to do."""


def azurite_binary(root: Path) -> Path:
    binary = root / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise AzuriteError(
            f"Azurite is not installed ({binary} is missing): run `make setup` "
            "(it runs `npm ci`), which needs Node.js and npm on PATH"
        )
    return binary


@dataclass
class Azurite:
    """A running Azurite; `endpoints` maps blob/queue/table to their base URLs."""

    process: subprocess.Popen[str]
    endpoints: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoints['blob']}/{ACCOUNT};"
            f"QueueEndpoint={self.endpoints['queue']}/{ACCOUNT};"
            f"TableEndpoint={self.endpoints['table']}/{ACCOUNT};"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_azurite(
    root: Path,
    location: Path,
    ports: tuple[int, int, int] = (0, 0, 0),
    timeout_s: float = 30.0,
) -> Azurite:
    """Start Azurite with data in `location`; returns once all three services listen."""
    binary = azurite_binary(root)
    location.mkdir(parents=True, exist_ok=True)
    blob, queue, table = ports
    cmd = [
        str(binary),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--location",
        str(location),
        "--blobPort",
        str(blob),
        "--queuePort",
        str(queue),
        "--tablePort",
        str(table),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C in a terminal reaches the supervisor, not Azurite
        env={**os.environ, "AZURITE_ACCESS_LOG": "false"},
    )
    azurite = Azurite(process=proc)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            azurite.output.append(line.rstrip())
            m = _LISTENING.search(line)
            if m:
                azurite.endpoints[m.group(1).lower()] = m.group(2).rstrip("/")
                if len(azurite.endpoints) == 3:
                    ready.set()
        ready.set()  # process ended: let the waiter see it

    threading.Thread(target=pump, name="azurite-output", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            azurite.stop()
            raise AzuriteError(f"Azurite did not start within {timeout_s:.0f} s")
    if len(azurite.endpoints) < 3:
        proc.wait()
        detail = "\n".join(azurite.output[-10:])
        hint = ""
        if "EADDRINUSE" in detail:
            hint = (
                f"\nA port Azurite needs ({blob}/{queue}/{table}) is in use: stop the other "
                "Azurite (or whatever holds it) or choose other ports."
            )
        raise AzuriteError(f"Azurite exited during startup:\n{detail}{hint}")
    return azurite
