"""The runner every Partner Center test and the benchmark share: the sandbox in-process on a
ManualClock, and cspflow's real client (PartnerCenterClient: MSAL, requests, HTTPS with the
sandbox's CA) pointed at it; plus a webhook receiver.

It lives with the tests, not in sandbox/, because it drives the app's client: the sandbox
itself imports nothing from the app (tests/sandbox/partner_center/test_imports.py).
Used by tests/sandbox/partner_center, tests/shared/partner_center and bench/partner_center.py.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from sandbox.partner_center import certs
from sandbox.partner_center.server import PartnerCenterSandbox, SandboxConfig
from shared.clock import ManualClock
from shared.config import Settings
from shared.partner_center.client import PartnerCenterClient
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.partner_center.transport import RetryPolicy

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
E3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K39X"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"
KEY_FILES = (
    "ca.pem",
    "ca.key.pem",
    "server.pem",
    "server.key.pem",
    "webhook-signing.pem",
    "webhook-signing.key.pem",
    "token-signing.key.pem",
)


def key_template(directory: Path) -> Path:
    """Generate the sandbox's key material once; each test copies it (RSA is slow)."""
    directory.mkdir(parents=True, exist_ok=True)
    certs.load_or_create(directory)
    return directory


@dataclass
class Harness:
    sandbox: PartnerCenterSandbox
    clock: ManualClock
    client: PartnerCenterClient
    settings: Settings
    waits: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.sandbox.process_now()

    def advance_to(self, when: datetime) -> None:
        self.clock.set(when)
        self.sandbox.process_now()

    def sleep(self, seconds: float) -> None:
        """The client's sleeper: every wait passes on the virtual clock; short ones (the
        sandbox measures throttling in real time) also pass in real time."""
        self.waits.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        self.sandbox.process_now()
        if seconds < 5:
            time.sleep(seconds)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(
            method,
            f"{self.base_url}/_sandbox/{path}",
            json=body,
            verify=str(self.sandbox.ca_pem),
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "state")
        return result

    def faults(self, **values: Any) -> None:
        self.admin("POST", "faults", values)

    def raw(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(
            method,
            self.base_url + path,
            headers=headers,
            verify=str(self.sandbox.ca_pem),
            timeout=30,
            **kwargs,
        )

    def app_token(self) -> str:
        return self.client._tokens.app_token("https://api.partnercenter.microsoft.com/.default")

    # business shortcuts ------------------------------------------------------------
    def customer(self, *, attest: bool = True) -> str:
        prefix = "c" + uuid.uuid4().hex[:12]
        created = self.client.create_customer(new_customer(prefix), request_id=str(uuid.uuid4()))
        if attest:
            self.client.attest_mca(
                created.customer.id,
                AgreementContact(
                    first_name="Tania", last_name="Carr", email="tania@contoso.example"
                ),
                self.clock.now(),
                request_id=str(uuid.uuid4()),
            )
        return created.customer.id

    def buy(
        self,
        customer_id: str,
        quantity: int = 10,
        offer: str = BASIC,
        term: str = "P1Y",
        cycle: str = "monthly",
        **line: Any,
    ) -> str:
        """Buy one line through the client; the new subscription's id. For sandboxes that
        provision at once (no provisioning delay: a pending order names no subscription)."""
        cart = self.client.create_cart(
            customer_id,
            [
                CartLine(
                    catalog_item_id=offer,
                    quantity=quantity,
                    term_duration=term,  # type: ignore[arg-type]
                    billing_cycle=cycle,  # type: ignore[arg-type]
                    **line,
                )
            ],
            request_id=str(uuid.uuid4()),
        )
        result = self.client.checkout(customer_id, cart.id, request_id=str(uuid.uuid4()))
        subscription_id = result.orders[0].line_items[0].subscription_id
        assert subscription_id is not None
        return subscription_id


def new_customer(prefix: str, country: str = "US") -> NewCustomer:
    return NewCustomer(
        domain_prefix=prefix,
        company_name=f"Contoso {prefix}",
        email=f"it@{prefix}.example",
        address=Address(
            first_name="Tania",
            last_name="Carr",
            address_line1="One Microsoft Way",
            city="Redmond",
            state="WA",
            postal_code="98052",
            country=country,
        ),
    )


def start_harness(template: Path, data_dir: Path, **config: Any) -> Harness:
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in KEY_FILES:
        shutil.copy2(template / name, data_dir / name)
    clock = ManualClock(config.pop("start", START))
    policy = config.pop("policy", RetryPolicy(jitter=0.0))
    sandbox = PartnerCenterSandbox(SandboxConfig(data_dir=data_dir, clock=clock, seed=7, **config))
    sandbox.start()
    settings = settings_for(sandbox)
    holder: list[Harness] = []
    client = PartnerCenterClient.from_settings(
        settings, policy=policy, sleep=lambda s: holder[0].sleep(s)
    )
    harness = Harness(sandbox=sandbox, clock=clock, client=client, settings=settings)
    holder.append(harness)
    return harness


def settings_for(sandbox: PartnerCenterSandbox, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "partner_center_base_url": sandbox.base_url,
        "partner_center_authority": sandbox.base_url,
        "partner_center_tenant_id": sandbox.credentials.tenant_id,
        "partner_center_client_id": sandbox.credentials.client_id,
        "partner_center_client_secret": sandbox.credentials.client_secret,
        "partner_center_refresh_token": sandbox.credentials.refresh_token,
        "partner_center_ca_bundle": sandbox.ca_pem,
        "partner_center_graph_base_url": sandbox.base_url,
        "partner_center_pricing_base_url": sandbox.base_url,
        "partner_center_timeout_s": 10.0,
        **overrides,
    }
    return Settings(**values)


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps every delivery's raw headers and body
    and answers with the next status in `statuses` (200 when empty)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/partner-center"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.deliveries]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.deliveries) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.deliveries)}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
