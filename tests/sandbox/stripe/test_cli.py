"""`python -m sandbox stripe` as a process: ready line, state dir, remote clock, webhooks."""

import json
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from .harness import API_KEY, WEBHOOK_SECRET, wait_for, webhook_endpoint

VIRTUAL_NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@contextmanager
def clock_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"now": VIRTUAL_NOW.isoformat()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clock"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def sandbox_process(*args):
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "stripe", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("ready http://127.0.0.1:"), (
            proc.stderr.read() if proc.stderr else line
        )
        yield line.removeprefix("ready ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_process_serves_follows_the_remote_clock_and_delivers_webhooks(tmp_path):
    with (
        clock_server() as clock_url,
        webhook_endpoint() as endpoint,
        sandbox_process(
            "--data",
            str(tmp_path),
            "--clock-url",
            clock_url,
            "--webhook-url",
            endpoint.url,
            "--webhook-secret",
            WEBHOOK_SECRET,
        ) as base_url,
    ):
        sdk = stripe.StripeClient(API_KEY, base_addresses={"api": base_url})
        cus = sdk.v1.customers.create({"name": "Contoso"})
        assert cus.created == int(VIRTUAL_NOW.timestamp())
        wait_for(lambda: len(endpoint.received) == 1)
        got = endpoint.received[0]
        assert (
            stripe.Webhook.construct_event(got.body, got.signature, WEBHOOK_SECRET).type
            == "customer.created"
        )
    assert (tmp_path / "stripe.sqlite3").exists()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--webhook-url", "http://127.0.0.1:1/x"], "go together"),
        (["--webhook-url", "http://127.0.0.1:1/x", "--webhook-secret", "nope"], "whsec_"),
        (["--port", "70000"], "--port must be"),
        (["--auto-retries", "-1"], "retries must be 0 or more"),
        (["--overdue-days", "-2"], "reminder offsets"),
    ],
)
def test_bad_options_are_refused_with_the_reason(args, complaint, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "stripe", "--data", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert complaint in result.stderr
