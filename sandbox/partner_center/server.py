"""Running the sandbox: in-process for tests (a background thread with its own event loop)
or as `python -m sandbox partner-center` (cli.py).

A background loop performs time-based work as the clock moves, whether or not requests
arrive: renewals at term end, expiries, billing cycles, monthly invoices and webhook
deliveries and retries. Requests also catch up on due work before they are processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import requests
from aiohttp import web

from sandbox.common import book
from sandbox.common.cli import LOOPBACK, SHUTDOWN_S
from sandbox.common.clock import Clock, SystemClock
from sandbox.partner_center import certs, lifecycle, seed_book
from sandbox.partner_center import seed as demo_seed
from sandbox.partner_center.app import build_app
from sandbox.partner_center.auth import Authority, Credentials
from sandbox.partner_center.context import Ctx, Options
from sandbox.partner_center.delivery import CERT_PATH, Dispatcher
from sandbox.partner_center.faults import Faults, Throttle
from sandbox.partner_center.ledger import DEFAULT_INVOICE_DAY
from sandbox.partner_center.notifications import WEBHOOK_EVENTS
from sandbox.partner_center.store import Store
from sandbox.partner_center.web_base import BACKGROUND, Context

LOG = logging.getLogger(__name__)
DEFAULT_CLIENT_ID = "5d0c8f44-5f5e-4c43-9f55-2a4f1f8d3c21"


@dataclass
class SandboxConfig:
    data_dir: Path
    port: int = 0
    clock: Clock = field(default_factory=SystemClock)
    faults: Faults = field(default_factory=Faults)
    tenant_id: str | None = None
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str | None = None
    renewal_processing: timedelta = timedelta(hours=1)
    pre_renewal_lock: timedelta = timedelta(hours=24)
    provisioning_delay: timedelta = timedelta(0)
    subscription_updated_delay: timedelta = timedelta(0)
    subscription_updated_delay_random: bool = False  # 0-48 h per event, seeded by `seed`
    webhook_duplicate_rate: float = 0.0
    invoice_day: int = DEFAULT_INVOICE_DAY  # Microsoft publishes invoices by the 8th
    webhook_url: str | None = None
    export_retry_after_ms: int = 200
    seed: int | None = None
    tick_s: float = 0.05
    # "demo": the demo partner's book (seed.py); "book:N": a partner's book of N customers
    # (seed_book.py); created once.
    seed_data: str = "none"


class PartnerCenterSandbox:
    """One sandbox instance; `start()` returns its base URL."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.keys = certs.load_or_create(config.data_dir)
        self.store = Store(config.data_dir / "partner-center.sqlite3")
        self.credentials = self._credentials()
        self.pc = Ctx(
            self.store,
            Options(
                partner_tenant_id=self.credentials.tenant_id,
                renewal_processing=config.renewal_processing,
                pre_renewal_lock=config.pre_renewal_lock,
                provisioning_delay=config.provisioning_delay,
                subscription_updated_delay=config.subscription_updated_delay,
                subscription_updated_delay_random=config.subscription_updated_delay_random,
                webhook_duplicate_rate=config.webhook_duplicate_rate,
                invoice_day=config.invoice_day,
                seed=config.seed,
            ),
        )
        self.authority = Authority(self.keys.token_key, self.credentials)
        self.throttle = Throttle(config.faults, seed=config.seed)
        self.context = Context(
            pc=self.pc,
            authority=self.authority,
            throttle=self.throttle,
            clock=config.clock,
            signing_cert_der=self.keys.signing_cert_der,
            export_retry_after_ms=config.export_retry_after_ms,
        )
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self._dispatcher: Dispatcher | None = None
        self._session: aiohttp.ClientSession | None = None
        self._book_size = book.parse(config.seed_data)
        self._seed_pending = (config.seed_data == "demo" and not demo_seed.seeded(self.pc)) or (
            self._book_size is not None and not seed_book.seeded(self.pc)
        )

    @property
    def ca_pem(self) -> Path:
        return self.keys.ca_pem_path

    @property
    def authority_url(self) -> str:
        return f"{self.base_url}/{self.credentials.tenant_id}"

    @property
    def certificate_url(self) -> str:
        return f"{self.base_url}{CERT_PATH}"

    def _credentials(self) -> Credentials:
        stored = self.store.meta("credentials")
        if stored is not None:
            values = json.loads(stored)
        else:
            values = {
                "tenant_id": self.config.tenant_id or str(uuid.uuid4()),
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret or secrets.token_urlsafe(24),
                "refresh_token": secrets.token_urlsafe(32),
            }
            self.store.set_meta("credentials", json.dumps(values))
        if self.config.client_secret:
            values["client_secret"] = self.config.client_secret
        return Credentials(**values)

    # async lifecycle ---------------------------------------------------------------
    async def start_async(self) -> str:
        self._wake = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self.pc.notifier.on_event = self._wake.set
        app = build_app(self.context)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, LOOPBACK, self.config.port, ssl_context=self.keys.ssl_context
        )
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"https://{LOOPBACK}:{port}"
        self.context.origin = self.base_url
        self.authority.bind(self.base_url)
        self.pc.notifier.base_url = self.base_url
        self._session = aiohttp.ClientSession()
        self._dispatcher = Dispatcher(self.pc, self.keys.signing_key, self.certificate_url)
        if self.config.webhook_url:
            self._register_default_webhook(self.config.webhook_url)
        self._write_connection_file()
        if self._seed_pending:
            try:
                now = await asyncio.to_thread(self.config.clock.now)
            except Exception:  # devhost's virtual clock is not up yet: the first tick seeds
                LOG.info("partner-center sandbox: demo data waits for the clock")
            else:
                self._seed(now)
        self._ticker = asyncio.ensure_future(self._tick_forever())
        return self.base_url

    def _seed(self, now: datetime) -> None:
        if self._book_size is not None:
            seed_book.seed_book(self.pc, now, self._book_size, self.config.seed)
        else:
            demo_seed.seed_demo(self.pc, now, self.credentials.client_id)
        self._seed_pending = False

    async def stop_async(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._runner is not None:
            for task in self._runner.app[BACKGROUND]:
                task.cancel()
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        self.store.close()

    async def tick(self) -> None:
        """Do the work the clock has made due, then deliver due webhooks. One tick at a
        time: the background loop and process_now() must not send the same attempt twice."""
        async with self._tick_lock:
            now = self.config.clock.now()
            if self._seed_pending:
                self._seed(now)
            lifecycle.advance(self.pc, now)
            if self._dispatcher is not None and self._session is not None:
                await self._dispatcher.deliver_due(self._session, now)

    async def _tick_forever(self) -> None:
        clock_down = False
        while True:
            try:
                await self.tick()
                clock_down = False
            except requests.RequestException as exc:
                # A --clock-url clock not answering (devhost still starting, or stopping):
                # said once, not a stack trace every tick.
                if not clock_down:
                    LOG.warning("partner-center sandbox: waiting for the clock (%s)", exc)
                clock_down = True
            except Exception:  # the loop must survive a bad tick; the next one retries
                LOG.exception("partner-center sandbox tick failed")
            self._wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for returns instead of raising when
            # the stop's cancel meets a wake (a new event) in the same loop turn, and the
            # ticker then ran on forever while stop_async awaited it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.tick_s):
                    await self._wake.wait()

    def _register_default_webhook(self, url: str) -> None:
        self.pc.store.set_meta(
            "webhook-registration",
            json.dumps(
                {
                    "SubscriberId": self.credentials.tenant_id,
                    "WebhookUrl": url,
                    "WebhookEvents": list(WEBHOOK_EVENTS),
                    "SignatureTokenToMsSignatureHeader": False,
                    "LastModifiedTimestamp": None,
                }
            ),
        )

    def _write_connection_file(self) -> None:
        """What a client started later needs: URLs, credentials, the CA to trust."""
        info = {
            "baseUrl": self.base_url,
            "authority": self.authority_url,
            "tenantId": self.credentials.tenant_id,
            "clientId": self.credentials.client_id,
            "clientSecret": self.credentials.client_secret,
            "refreshToken": self.credentials.refresh_token,
            "caBundle": str(self.ca_pem),
            "certificateUrl": self.certificate_url,
        }
        path = self.config.data_dir / "connection.json"
        path.write_text(json.dumps(info, indent=2))
        path.chmod(0o600)

    # in-process (tests) -------------------------------------------------------------
    def start(self) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="partner-center-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.base_url

    def process_now(self) -> None:
        """Run one tick on the sandbox's loop and wait for it (after advancing a clock)."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self.tick(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop = None
