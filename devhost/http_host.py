"""`python -m devhost start`: one app folder served like `func start`.

Order matters as in Core Tools: local.settings.json `Values` go into the environment before
the app is imported (apps read settings at import), then host.json, the app's functions, the
Durable engine (SQLite in `<app>/.devhost/`), the HTTP listeners, timers and queue pollers.
The ready line `ready http://127.0.0.1:PORT` is printed last, once everything accepts work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost.app import LoadedApp, load_app
from devhost.clock import HostClock, RealClock, VirtualClock
from devhost.engine import DurableEngine
from devhost.http_auth import KeyRing, Level
from devhost.http_cors import CorsConfigError, CorsPolicy
from devhost.http_cors import middleware as cors_middleware
from devhost.http_server import FunctionsFront
from devhost.listeners.invoke import Invoker, check_bindings, name_of, trigger_of
from devhost.listeners.queue import DEFAULT_LEASE, QueuePoller
from devhost.listeners.storage import QueueClients, decode_message
from devhost.listeners.timer import ClockSleeper, StatusStore, TimerTrigger
from devhost.management_api import ManagementApi
from devhost.management_urls import RPC_PREFIX, WEBHOOK_PREFIX, Urls
from devhost.settings import (
    HostConfig,
    SettingsError,
    apply_values,
    is_disabled,
    load_host_config,
    load_local_settings,
    worker_process_count,
)

log = logging.getLogger("devhost")

# Set for the app when the clock is virtual: where to read the host's time.
CLOCK_URL_ENV = "DEVHOST_CLOCK_URL"

LOOPBACK = "127.0.0.1"
# Test hook: a short queue lease shows "no message lost" without waiting 10 minutes.
QUEUE_LEASE_ENV = "DEVHOST_QUEUE_LEASE_SECONDS"
DRAIN_TIMEOUT_S = 10.0
# How long the virtual clock waits for the queues' answer before it jumps anyway.
PROBE_TIMEOUT_S = 5.0
# An HTTP request still in flight at a stop gets this long, not aiohttp's 60 s: `make run`
# gives devhost 15 s to stop before it kills it, tests 30 s.
HTTP_SHUTDOWN_S = 5.0


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    port: int | None = None  # None: local.settings.json Host.LocalHttpPort, else 7071
    rpc_port: int = 0  # the real host uses 17071; any free port keeps parallel hosts apart
    virtual_clock: bool = False
    enable_auth: bool = False
    state_dir: Path | None = None
    cors: str | None = None  # None: local.settings.json Host.CORS (else no CORS)
    cors_credentials: bool | None = None  # None: Host.CORSCredentials


class StartupError(RuntimeError):
    """Something the user must fix before the host can start; the message says what."""


class Host:
    """Everything `devhost start` runs, wired together."""

    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.app_dir = options.app_dir.resolve()
        self.state_dir = options.state_dir or self.app_dir / ".devhost"
        local = load_local_settings(self.app_dir)
        self.port = options.port if options.port is not None else local.local_http_port or 7071
        try:
            self.cors = CorsPolicy.parse(
                options.cors if options.cors is not None else local.cors,
                local.cors_credentials
                if options.cors_credentials is None
                else options.cors_credentials,
            )
        except CorsConfigError as exc:
            raise StartupError(str(exc)) from exc
        skipped = apply_values(local.values, os.environ)
        for name in skipped:
            log.info(
                "Skipping '%s' from local settings as it's already defined in current environment variables.",
                name,
            )
        try:
            self.config: HostConfig = load_host_config(self.app_dir)
        except SettingsError as exc:
            example = self.app_dir / "local.settings.json.example"
            if example.exists() and not (self.app_dir / "local.settings.json").exists():
                raise SettingsError(
                    f"{exc} (there is no local.settings.json: copy {example.name} to it)"
                ) from exc
            raise
        self.keys = KeyRing.from_environ(os.environ) if options.enable_auth else None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.clock: HostClock = (
            VirtualClock(publish=self.state_dir / "clock") if options.virtual_clock else RealClock()
        )
        self.app: LoadedApp = load_app(self.app_dir)
        for fn in self.app.functions:
            check_bindings(fn)
        self.engine = DurableEngine(
            self.app,
            self.state_dir / "durable.sqlite",
            clock=self.clock,
            worker_processes=worker_process_count(os.environ),
        )
        self.urls = Urls(self.config.hub_name, self.keys)
        needs_storage = bool(self.app.queue_functions) or any(
            b.type == "queue" for fn in self.app.functions for b in fn.get_bindings()
        )
        self.queues = QueueClients(os.environ) if needs_storage else None
        self.invoker = Invoker(
            durable_client_json=self.urls.client_binding,
            queues=self.queues,
            queue_encoding=self.config.queues.message_encoding,
        )
        self.front = FunctionsFront(
            self.app.http_functions, self.config.route_prefix, self.invoke, self.keys, self.clock
        )
        self.management = ManagementApi(self.engine, self.urls, self.keys, self.clock)
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._pollers: list[QueuePoller] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe: int | None = None
        self.base_url = ""

    async def invoke(self, fn: func.Function, trigger_value: Any) -> Any:
        """Run a function, logged like the host ("Executing 'Functions.x' ...")."""
        invocation = uuid.uuid4()
        name = name_of(fn)
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", name, _reason(fn), invocation)
        hold = getattr(self.clock, "hold", None)
        token = hold() if hold else None
        started = time.monotonic()
        try:
            result = await self.invoker.call(fn, trigger_value)
        except Exception:
            log.info(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
                name,
                invocation,
                _ms(started),
            )
            raise
        finally:
            if token is not None:
                self.clock.release(token)
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            name,
            invocation,
            _ms(started),
        )
        return result

    async def start(self) -> None:
        # CORS before everything, as Core Tools orders its middleware (http_cors.py).
        middlewares = [cors_middleware(self.cors)] if self.cors is not None else []
        main = web.Application(client_max_size=100 * 1024 * 1024, middlewares=middlewares)
        self.management.install(main, WEBHOOK_PREFIX, Level.SYSTEM)
        self.front.install(main)
        rpc = web.Application(client_max_size=100 * 1024 * 1024)
        self.management.install(rpc, RPC_PREFIX, Level.ANONYMOUS)
        port = await self._listen(main, self.port, "--port")
        rpc_port = await self._listen(rpc, self.options.rpc_port, "--rpc-port")
        self.base_url = f"http://{LOOPBACK}:{port}"
        if isinstance(self.clock, VirtualClock):
            # The app runs in this process: tell it where the host's time is, as the Functions
            # host tells an app its own name (WEBSITE_HOSTNAME). It reads it over HTTP, as the
            # sandboxes do: devhost imports nothing of the app and the app nothing of devhost.
            os.environ[CLOCK_URL_ENV] = f"{self.base_url}/admin/clock"
        self.urls.origin = self.base_url
        self.urls.rpc_origin = f"http://{LOOPBACK}:{rpc_port}"
        self.engine.start()
        for fn in self._triggered(self.app.timer_functions):
            timer = TimerTrigger(
                fn,
                self.clock,
                ClockSleeper(self.clock),
                StatusStore(self.state_dir / "timers"),
                self.invoke,
            )
            self._tasks.append(asyncio.create_task(timer.run(), name=f"timer:{timer.name}"))
        for fn in self._triggered(self.app.queue_functions):
            poller = self._poller(fn)
            self._pollers.append(poller)
            self._tasks.append(asyncio.create_task(poller.run(), name=f"queue:{poller.name}"))
        if self._pollers and isinstance(self.clock, VirtualClock):
            self._loop = asyncio.get_running_loop()
            self._probe = self.clock.add_probe(self._queues_waiting)

    def _queues_waiting(self) -> bool:
        """The virtual clock's probe, asked (on the engine's thread) before it jumps: is a
        message waiting on a queue-triggered function's queue? Its poller then fetches it."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False

        async def any_waiting() -> bool:
            return any(await asyncio.gather(*(p.waiting() for p in self._pollers)))

        try:
            return asyncio.run_coroutine_threadsafe(any_waiting(), loop).result(PROBE_TIMEOUT_S)
        except Exception as exc:  # a stopping loop, a slow storage: time may move
            log.debug("queue probe: %r", exc)
            return False

    @staticmethod
    def _triggered(functions: list[func.Function]) -> list[func.Function]:
        """The functions whose listeners start: a disabled one (`AzureWebJobs.<name>.Disabled`)
        has none, as the host ignores its trigger; said once at start."""
        enabled = []
        for fn in functions:
            if is_disabled(name_of(fn), os.environ):
                log.info("Function '%s' is disabled (AzureWebJobs.%s.Disabled)", *[name_of(fn)] * 2)
            else:
                enabled.append(fn)
        return enabled

    def _poller(self, fn: func.Function) -> QueuePoller:
        assert self.queues is not None
        trigger = trigger_of(fn)
        lease_s = os.environ.get(QUEUE_LEASE_ENV)
        encoding = self.config.queues.message_encoding
        return QueuePoller(
            fn,
            self.queues.queue(trigger.connection, trigger.queue_name),
            self.queues.queue(trigger.connection, f"{trigger.queue_name}-poison"),
            self.config.queues,
            self.invoke,
            lambda content: decode_message(content, encoding),
            lease=DEFAULT_LEASE if not lease_s else timedelta(seconds=float(lease_s)),
        )

    async def _listen(self, app: web.Application, port: int, option: str) -> int:
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_S
        )
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"port {port} on {LOOPBACK} is in use ({exc.strerror}): stop whatever holds it "
                f"(`lsof -i :{port}`) or pass another {option}"
            ) from exc
        self._runners.append(runner)
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._probe is not None:
            self.clock.remove_probe(self._probe)
            self._probe = None
        # Like the host's drain mode: no new messages, running ones finish and are deleted.
        for poller in self._pollers:
            poller.drain(DRAIN_TIMEOUT_S)
        pollers = [t for t in self._tasks if t.get_name().startswith("queue:")]
        if pollers:
            await asyncio.wait(pollers, timeout=DRAIN_TIMEOUT_S + 1)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # The front first: an HTTP function still running calls the durable client, which
        # talks to the RPC listener.
        for runner in self._runners:
            await runner.cleanup()
        await asyncio.to_thread(self.engine.close)
        if self.queues is not None:
            await self.queues.close()
        await _close_durable_client_session()

    def banner(self) -> str:
        lines = ["", "Functions:", ""]
        for fn in self.app.functions:
            trigger = trigger_of(fn)
            kind = trigger.get_binding_name()
            if fn in self.app.http_functions:
                continue
            lines.append(f"        {name_of(fn)}: {kind}")
        for url in self.front.function_urls(self.base_url, self.app.http_functions):
            lines.append(f"        {url}")
        lines.append("")
        if self.keys is not None:
            if self.keys.generated:
                lines.append(
                    "Keys generated for this run (set them in local.settings.json to keep them):"
                )
                lines.append(f"        master key: {self.keys.master}")
                lines.append(f"        function key: {self.keys.function}")
                lines.append(f"        durabletask system key: {self.keys.durabletask}")
            else:
                lines.append("Auth is on: keys from local.settings.json / the environment.")
        clock = "virtual" if self.options.virtual_clock else "real"
        lines.append(f"Task hub {self.config.hub_name}; {clock} clock; state in {self.state_dir}")
        return "\n".join(lines)


async def _close_durable_client_session() -> None:
    """The Durable SDK keeps one aiohttp session per worker for its client calls (async HTTP
    starters run on this loop) and never closes it: the real worker simply exits. Closing it
    here keeps a stop free of "Unclosed client session" warnings."""
    from azure.durable_functions.models.utils import http_utils

    close = getattr(http_utils, "_close_session", None)  # private; absent in other versions
    if close is not None:
        await close()


def _reason(fn: func.Function) -> str:
    kind = str(trigger_of(fn).get_binding_name())
    return {
        "httpTrigger": "This function was programmatically called via the host APIs.",
        "timerTrigger": "Timer fired",
        "queueTrigger": "New queue message detected",
    }.get(kind, kind)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def serve(options: HostOptions) -> int:
    """Run the host until SIGINT/SIGTERM; returns the process exit code."""
    host = Host(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
        print(host.banner(), flush=True)
        print(f"ready {host.base_url}", flush=True)
        await stop.wait()
        print("Stopping devhost...", file=sys.stderr, flush=True)
    finally:
        try:
            await host.stop()
        except Exception:
            log.exception("devhost did not stop cleanly")
        _exit_if_functions_still_run(host)
    return 0


def _exit_if_functions_still_run(host: Host) -> None:
    """A sync function still running after the stop (its call was cancelled, its thread
    cannot be) would hold the process open until it returns: asyncio.run joins the executor's
    threads. The Functions host ends its worker process then too; the host's state is
    already saved (a queue message comes back after its lease)."""
    running = host.invoker.threads_running
    if not running:
        return
    log.warning("devhost: %d function call(s) still running; exiting without them", running)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
