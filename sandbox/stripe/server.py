"""Run the sandbox: `serve()` for the CLI, `StripeSandbox` in a background thread for tests.

Beside the HTTP server run two tasks on the sandbox clock: the webhook deliverer (when a
webhook endpoint is configured) and the invoice automation (always: it only acts on invoices
with `auto_advance` or a due date).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from aiohttp import web

from sandbox.common import book
from sandbox.common.cli import LOOPBACK, SHUTDOWN_S
from sandbox.common.clock import Clock

from . import seed, seed_book
from .app import Api, Config
from .automation import Automation
from .schedule import BillingSchedule
from .store import Store
from .webhooks import Deliverer, RetryMode


@dataclass(frozen=True)
class Options:
    data_dir: Path
    clock: Clock
    port: int = 0
    webhook_url: str | None = None
    webhook_events: frozenset[str] | None = None  # the endpoint's enabled_events; None: all
    webhook_secrets: tuple[str, ...] = ()  # more than one while rotating
    webhook_retries: RetryMode = "live"
    webhook_timeout_s: float = 10.0
    webhook_duplicate_rate: float = 0.0  # share of events delivered twice
    webhook_out_of_order_rate: float = 0.0  # share of events overtaken by a later one
    seed: int | None = None  # for the two above: one seed, one sequence of decisions
    rate_limit_per_s: int | None = None
    # "demo": the demo partner's customers and cards (seed.py); "book:N": the Stripe customers
    # of a partner's book of N (seed_book.py).
    seed_data: str = "none"
    # When Stripe's automatic collection and reminders act (schedule.py).
    schedule: BillingSchedule = field(default_factory=BillingSchedule)


@dataclass
class Running:
    base_url: str
    runner: web.AppRunner
    store: Store
    deliveries: asyncio.Task[None] | None  # None when no webhook endpoint is configured
    automation: asyncio.Task[None] | None = None  # what Stripe does to invoices on its own
    seeding: asyncio.Task[None] | None = None  # a seed waiting for the clock

    async def stop(self) -> None:
        for task in (self.deliveries, self.automation, self.seeding):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.runner.cleanup()
        self.store.close()


async def start(options: Options) -> Running:
    """Bind to loopback, start delivering webhooks if configured, return the running parts."""
    if (options.webhook_url is None) != (not options.webhook_secrets):
        raise ValueError("--webhook-url and --webhook-secret go together")
    store = Store(options.data_dir / "stripe.sqlite3")
    config = Config(
        store=store,
        clock=options.clock,
        webhook_url=options.webhook_url,
        webhook_events=options.webhook_events,
        rate_limit_per_s=options.rate_limit_per_s,
        schedule=options.schedule,
    )
    api = Api(config)
    runner = web.AppRunner(api.app(), access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, options.port).start()
    config.base_url = f"http://{LOOPBACK}:{runner.addresses[0][1]}"
    task = None
    if options.webhook_secrets:
        deliverer = Deliverer(
            store,
            options.clock,
            secrets=options.webhook_secrets,
            mode=options.webhook_retries,
            timeout_s=options.webhook_timeout_s,
            duplicate_rate=options.webhook_duplicate_rate,
            out_of_order_rate=options.webhook_out_of_order_rate,
            seed=options.seed,
        )
        config.on_event = deliverer.wake
        task = asyncio.create_task(deliverer.run())
    running = Running(config.base_url, runner, store, task)
    running.automation = asyncio.create_task(Automation(store, options.clock, api.make_ctx).run())
    if options.seed_data == "demo":
        try:
            now = await asyncio.to_thread(options.clock.now)
        except Exception:  # devhost's virtual clock is not up yet: seed once it answers
            running.seeding = asyncio.create_task(
                seed.seed_when_ready(running.base_url, options.clock)
            )
        else:  # seeded before the sandbox says it is ready; a failure fails the start
            await asyncio.to_thread(seed.seed_demo, running.base_url, now)
    elif (size := book.parse(options.seed_data)) is not None:
        try:
            now = await asyncio.to_thread(options.clock.now)
        except Exception:  # devhost's virtual clock is not up yet: it starts from the wall clock
            now = datetime.now(UTC)
        # Straight into the store before the sandbox says it is ready: a sync started at once
        # finds every customer.
        await asyncio.to_thread(seed_book.seed_book, store, size, options.seed, now)
    return running


async def serve(
    options: Options, on_ready: Callable[[str], None], until: Awaitable[object]
) -> None:
    running = await start(options)
    try:
        on_ready(running.base_url)
        await until
    finally:
        await running.stop()


class StripeSandbox:
    """The sandbox on its own event loop thread; `with StripeSandbox(opts) as sb: sb.base_url`."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._running: Running | None = None

    @property
    def store(self) -> Store:
        """The running sandbox's store (tests seed it directly, as `--seed-data` does)."""
        if self._running is None:
            raise RuntimeError("the sandbox is not running")
        return self._running.store

    def __enter__(self) -> StripeSandbox:
        self._thread.start()
        self._running = asyncio.run_coroutine_threadsafe(start(self.options), self._loop).result(30)
        self.base_url = self._running.base_url
        return self

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
