"""Run the sandbox: `serve()` for the CLI, `StripeSandbox` in a background thread for tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from aiohttp import web

from shared.clock import Clock

from .app import Api, Config
from .store import Store
from .webhooks import Deliverer, RetryMode

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Options:
    data_dir: Path
    clock: Clock
    port: int = 0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_retries: RetryMode = "live"
    webhook_timeout_s: float = 10.0
    rate_limit_per_s: int | None = None


async def start(options: Options) -> tuple[web.AppRunner, str, asyncio.Task[None], Store]:
    """Bind, start delivering webhooks, and return what `stop` needs plus the base URL."""
    if (options.webhook_url is None) != (options.webhook_secret is None):
        raise ValueError("--webhook-url and --webhook-secret go together")
    store = Store(options.data_dir / "stripe.sqlite3")
    config = Config(
        store=store,
        clock=options.clock,
        webhook_url=options.webhook_url,
        rate_limit_per_s=options.rate_limit_per_s,
    )
    api = Api(config)
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, options.port)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    port = server.sockets[0].getsockname()[1]
    config.base_url = f"http://{LOOPBACK}:{port}"
    deliverer = Deliverer(
        store,
        options.clock,
        secret=options.webhook_secret,
        mode=options.webhook_retries,
        timeout_s=options.webhook_timeout_s,
    )
    config.on_event = deliverer.wake
    task = asyncio.create_task(deliverer.run())
    return runner, config.base_url, task, store


async def stop(runner: web.AppRunner, task: asyncio.Task[None], store: Store) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await runner.cleanup()
    store.close()


async def serve(
    options: Options, on_ready: Callable[[str], None], until: Awaitable[object]
) -> None:
    runner, base_url, task, store = await start(options)
    try:
        on_ready(base_url)
        await until
    finally:
        await stop(runner, task, store)


class StripeSandbox:
    """The sandbox on its own event loop thread; `with StripeSandbox(opts) as sb: sb.base_url`."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._parts: tuple[web.AppRunner, str, asyncio.Task[None], Store] | None = None

    def __enter__(self) -> StripeSandbox:
        self._thread.start()
        self._parts = asyncio.run_coroutine_threadsafe(start(self.options), self._loop).result(30)
        self.base_url = self._parts[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._parts is not None:
            runner, _, task, store = self._parts
            asyncio.run_coroutine_threadsafe(stop(runner, task, store), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
