"""The common command line of `python -m sandbox NAME`.

Every sandbox serves on 127.0.0.1 only, takes `--port` (0 = a free port), `--data DIR`
(a temporary folder when omitted) and `--clock-url URL` (follow a devhost's virtual clock),
and prints exactly one line `ready <base url>` on stdout once it accepts requests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
# A request still open when a sandbox stops gets this long, not aiohttp's 60 s: callers
# (tests, make run's Ctrl-C) wait on the stop.
SHUTDOWN_S = 5.0


@dataclass(frozen=True)
class SandboxArgs:
    port: int
    data_dir: Path
    clock_url: str | None


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with the common options; sandboxes add their own after."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")
    p.add_argument("--data", type=Path, default=None, help="state folder (default: a temp dir)")
    p.add_argument("--clock-url", default=None, help="follow the clock served at this URL")
    return p


def common_args(ns: argparse.Namespace, name: str) -> SandboxArgs:
    if not 0 <= ns.port <= 65535:
        raise SystemExit(f"--port must be 0..65535, got {ns.port}")
    data = ns.data if ns.data is not None else Path(tempfile.mkdtemp(prefix=f"sandbox-{name}-"))
    data.mkdir(parents=True, exist_ok=True)
    return SandboxArgs(port=ns.port, data_dir=data, clock_url=ns.clock_url)


def announce_ready(base_url: str) -> None:
    """The one line a supervisor waits for; flushed so a pipe sees it at once."""
    sys.stdout.write(f"ready {base_url}\n")
    sys.stdout.flush()
