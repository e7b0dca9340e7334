"""Run the mail sandbox: `serve()` for the CLI, `MailSandbox` on a background thread for
tests. Both servers (SMTP and the inbox's HTTP) share one event loop, so a fault set over
HTTP applies to the very next SMTP command.

On start the sandbox writes `<data>/connection.json` (mode 0600): where SMTP listens, whether
it offers STARTTLS (and the root to trust), the credentials AUTH needs, and the inbox URL.
`make run` reads it to wire the app (devhost/sandbox_wiring.py). The credentials are made on
first start and kept, so an app configured earlier still authenticates after a restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from aiohttp import web

from sandbox.common.cli import LOOPBACK, SHUTDOWN_S
from sandbox.mail.faults import Faults
from sandbox.mail.smtp import Handler, smtp_factory
from sandbox.mail.store import MailStore
from sandbox.mail.tls import server_context

CONNECTION_FILE = "connection.json"
CREDENTIALS_FILE = "credentials.json"


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Options:
    data_dir: Path
    clock: Clock = field(default_factory=WallClock)
    port: int = 0  # the inbox (HTTP)
    smtp_port: int = 0
    starttls: bool = False
    require_auth: bool = False


@dataclass
class Running:
    base_url: str
    smtp_port: int
    runner: web.AppRunner
    smtp: asyncio.Server
    store: MailStore
    faults: Faults
    connection: dict[str, Any]

    async def stop(self) -> None:
        self.smtp.close()
        await self.smtp.wait_closed()
        await self.runner.cleanup()
        self.store.close()


def credentials(data_dir: Path) -> tuple[str, str]:
    """The AUTH user name and password, made once."""
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        info = json.loads(path.read_text())
        return info["username"], info["password"]
    username, password = "cspflow", secrets.token_urlsafe(24)
    _write_private(path, json.dumps({"username": username, "password": password}))
    return username, password


async def start(options: Options) -> Running:
    if options.require_auth and not options.starttls:
        raise ValueError("--require-auth needs --starttls (AUTH is only offered over TLS)")
    options.data_dir.mkdir(parents=True, exist_ok=True)
    store = MailStore(options.data_dir / "mail.sqlite3")
    faults = Faults()
    loop = asyncio.get_running_loop()

    async def now() -> datetime:
        return await asyncio.to_thread(options.clock.now)

    tls, ca_path = (None, None)
    if options.starttls:
        tls, ca_path = server_context(options.data_dir)
    creds = credentials(options.data_dir) if options.require_auth else None
    factory = smtp_factory(Handler(store, faults, now), tls=tls, credentials=creds, loop=loop)
    smtp = await loop.create_server(factory, LOOPBACK, options.smtp_port)
    smtp_port = smtp.sockets[0].getsockname()[1]

    info: dict[str, Any] = {}
    inbox_app = _inbox(store, faults, lambda: info)
    runner = web.AppRunner(inbox_app, access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, options.port).start()
    base_url = f"http://{LOOPBACK}:{runner.addresses[0][1]}"
    info.update(
        {
            "smtp": {
                "host": LOOPBACK,
                "port": smtp_port,
                "starttls": options.starttls,
                "auth": options.require_auth,
            },
            "inbox": base_url,
        }
    )
    connection = {
        "smtpHost": LOOPBACK,
        "smtpPort": smtp_port,
        "starttls": options.starttls,
        "caBundle": str(ca_path) if ca_path else None,
        "username": creds[0] if creds else None,
        "password": creds[1] if creds else None,
        "inboxUrl": base_url,
    }
    _write_private(options.data_dir / CONNECTION_FILE, json.dumps(connection, indent=2))
    return Running(base_url, smtp_port, runner, smtp, store, faults, connection)


def _inbox(store: MailStore, faults: Faults, info: Callable[[], dict[str, Any]]) -> web.Application:
    from sandbox.mail.web import Inbox

    return Inbox(store, faults, info).app()


async def serve(
    options: Options, on_ready: Callable[[str], None], until: Awaitable[object]
) -> None:
    running = await start(options)
    try:
        on_ready(running.base_url)
        await until
    finally:
        await running.stop()


class MailSandbox:
    """The sandbox on its own event loop thread: `with MailSandbox(opts) as mail: ...`."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.base_url = ""
        self.smtp_port = 0
        self.connection: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._running: Running | None = None

    def __enter__(self) -> MailSandbox:
        self._thread.start()
        self._running = asyncio.run_coroutine_threadsafe(start(self.options), self._loop).result(30)
        self.base_url = self._running.base_url
        self.smtp_port = self._running.smtp_port
        self.connection = self._running.connection
        return self

    @property
    def faults(self) -> Faults:
        assert self._running is not None
        return self._running.faults

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
