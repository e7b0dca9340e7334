"""Running the Stripe sandbox in-process for tests, a webhook endpoint that records, and a
proxy that loses answers."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import stripe

from sandbox.stripe.schedule import BillingSchedule
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


@dataclass
class Forwarded:
    method: str
    path: str
    idempotency_key: str | None
    replayed: bool  # the sandbox answered `Idempotent-Replayed: true`
    dropped: bool  # the answer never reached the client


@dataclass
class LossyProxy:
    """A loopback proxy in front of the sandbox that can lose answers: the request reaches the
    sandbox, which commits it and answers, then the proxy closes the client's connection
    without a byte of the answer (a network failure mid-request, the response lost)."""

    url: str = ""
    forwarded: list[Forwarded] = field(default_factory=list)
    _drops: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def lose_answers(self, method: str, path_pattern: str, times: int = 1) -> None:
        """Lose the next `times` answers to `method` on a path matching the glob."""
        with self.lock:
            self._drops[(method, path_pattern)] = times

    def take_drop(self, method: str, path: str) -> bool:
        """Whether to lose this answer (counting it)."""
        with self.lock:
            for (verb, pattern), left in self._drops.items():
                if verb == method and left > 0 and fnmatchcase(path, pattern):
                    self._drops[(verb, pattern)] = left - 1
                    return True
        return False

    def to(self, path: str) -> list[Forwarded]:
        return [f for f in self.forwarded if fnmatchcase(f.path, path)]


@contextmanager
def lossy_proxy(upstream: str) -> Iterator[LossyProxy]:
    proxy = LossyProxy()
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session uses

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            conn.close()
            dropped = proxy.take_drop(self.command, urlsplit(self.path).path)
            with proxy.lock:
                proxy.forwarded.append(
                    Forwarded(
                        self.command,
                        urlsplit(self.path).path,
                        self.headers.get("Idempotency-Key"),
                        resp.getheader("Idempotent-Replayed") == "true",
                        dropped,
                    )
                )
            if dropped:  # committed upstream; the client gets a closed connection
                self.close_connection = True
                return
            self.send_response_only(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield proxy
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
    schedule: BillingSchedule | None = None,
    **options: Any,
) -> Iterator[StripeSandbox]:
    config = Options(
        data_dir=data_dir,
        clock=clock,
        schedule=schedule or BillingSchedule(),
        webhook_url=webhook_url,
        webhook_secrets=webhook_secrets if webhook_url else (),
        webhook_retries="test" if webhook_retries == "test" else "live",
        rate_limit_per_s=rate_limit_per_s,
        **options,
    )
    with StripeSandbox(config) as sandbox:
        yield sandbox


def client(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": base_url})


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
