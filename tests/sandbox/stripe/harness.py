"""Running the Stripe sandbox in-process for tests, and a webhook endpoint that records."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import stripe

from sandbox.stripe.server import Options, StripeSandbox
from shared.clock import ManualClock

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
API_KEY = "sk_test_cspflow_sandbox"
WEBHOOK_SECRET = "whsec_test_sandbox_secret"


@dataclass
class Received:
    body: bytes
    signature: str | None


@dataclass
class Endpoint:
    """A webhook receiver; answers `fail_next` requests with 500 before accepting."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with endpoint.lock:
                failing = endpoint.fail_next > 0
                if failing:
                    endpoint.fail_next -= 1
                else:
                    endpoint.received.append(Received(body, self.headers.get("Stripe-Signature")))
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/stripe/webhook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_sandbox(
    data_dir: Path,
    clock: ManualClock,
    *,
    webhook_url: str | None = None,
    rate_limit_per_s: int | None = None,
    webhook_retries: str = "live",
    webhook_secrets: tuple[str, ...] = (WEBHOOK_SECRET,),
) -> Iterator[StripeSandbox]:
    options = Options(
        data_dir=data_dir,
        clock=clock,
        webhook_url=webhook_url,
        webhook_secrets=webhook_secrets if webhook_url else (),
        webhook_retries="test" if webhook_retries == "test" else "live",
        rate_limit_per_s=rate_limit_per_s,
    )
    with StripeSandbox(options) as sandbox:
        yield sandbox


def client(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": base_url})


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
