"""`python -m sandbox partner-center` as a process: ready line, HTTPS, state that survives
a restart, and the devhost clock."""

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.partner_center import PartnerCenterClient
from shared.partner_center.models import AgreementContact, CartLine
from tests.sandbox.partner_center.harness import BASIC, KEY_FILES, new_customer

pytestmark = pytest.mark.slow


def _start(data: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "partner-center",
            "--port",
            "0",
            "--data",
            str(data),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise AssertionError(f"no ready line: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.removeprefix("ready ")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def _client(data: Path) -> PartnerCenterClient:
    from shared.config import Settings

    info = json.loads((data / "connection.json").read_text())
    return PartnerCenterClient.from_settings(
        Settings(
            partner_center_base_url=info["baseUrl"],
            partner_center_authority=info["baseUrl"],
            partner_center_tenant_id=info["tenantId"],
            partner_center_client_id=info["clientId"],
            partner_center_client_secret=info["clientSecret"],
            partner_center_refresh_token=info["refreshToken"],
            partner_center_ca_bundle=info["caBundle"],
        )
    )


def test_the_process_serves_https_and_keeps_its_ca_and_state_across_restarts(tmp_path, pc_keys):
    data = tmp_path / "pc"
    data.mkdir()
    for name in KEY_FILES:  # pre-made keys keep the test fast; the CLI generates them too
        (data / name).write_bytes((pc_keys / name).read_bytes())
    proc, base_url = _start(data)
    try:
        assert base_url.startswith("https://127.0.0.1:")
        created = _client(data).create_customer(new_customer("cli00001"), request_id="cli-1")
    finally:
        assert _stop(proc) == 0
    ca_before = (data / "ca.pem").read_bytes()
    proc, base_url = _start(data)
    try:
        assert (data / "ca.pem").read_bytes() == ca_before
        assert _client(data).get_customer(created.customer.id).domain == "cli00001.onmicrosoft.com"
    finally:
        assert _stop(proc) == 0


def test_a_first_start_generates_the_ca_a_client_can_trust(tmp_path):
    data = tmp_path / "fresh"
    proc, base_url = _start(data)
    try:
        resp = requests.get(
            f"{base_url}/webhooks/v1/registration/events", verify=str(data / "ca.pem"), timeout=10
        )
        assert resp.status_code == 401  # HTTPS trusted; the API wants a token
    finally:
        _stop(proc)


def test_the_sandbox_renews_when_the_remote_clock_reaches_term_end(tmp_path, pc_keys):
    """On devhost's virtual clock (--clock-url) a renewal happens when simulated time
    passes the term's end, with no API call to prompt it."""
    clock = {"now": datetime(2027, 6, 1, 12, 0, tzinfo=UTC)}

    class Clock(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"now": clock["now"].isoformat()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Clock)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    data = tmp_path / "clocked"
    data.mkdir()
    for name in KEY_FILES:
        (data / name).write_bytes((pc_keys / name).read_bytes())
    proc, base_url = _start(
        data, "--clock-url", f"http://127.0.0.1:{server.server_address[1]}/clock"
    )
    try:

        def state() -> dict[str, Any]:
            resp = requests.get(
                f"{base_url}/_sandbox/state", verify=str(data / "ca.pem"), timeout=10
            )
            return dict(resp.json())

        assert state()["now"] == "2027-06-01T12:00:00Z"
        client = _client(data)
        customer = client.create_customer(new_customer("clock0001"), request_id="clock-1")
        customer_id = customer.customer.id
        contact = AgreementContact(first_name="Tania", last_name="Carr", email="t@c.example")
        client.attest_mca(customer_id, contact, clock["now"], request_id="clock-2")
        cart = client.create_cart(
            customer_id,
            [
                CartLine(
                    catalog_item_id=BASIC, quantity=3, term_duration="P1M", billing_cycle="monthly"
                )
            ],
            request_id="clock-3",
        )
        (order,) = client.checkout(customer_id, cart.id, request_id="clock-4").orders
        sid = order.line_items[0].subscription_id
        assert sid is not None
        term_end = client.get_subscription(customer_id, sid).term_end
        clock["now"] = term_end + timedelta(hours=2)  # renewal processing takes 1 h here
        deadline = time.monotonic() + 20
        while not (renew := [c for c in state()["ledger"] if c["chargeType"] == "renew"]):
            assert time.monotonic() < deadline, "no renewal on the remote clock"
            time.sleep(0.1)
        assert [c["subscriptionId"] for c in renew] == [sid]
        assert state()["now"] == clock["now"].isoformat().replace("+00:00", "Z")
    finally:
        _stop(proc)
        server.shutdown()


@pytest.mark.parametrize(
    ("option", "value"), [("--throttle-rate", "2"), ("--invoice-day", "29"), ("--invoice-day", "0")]
)
def test_bad_options_are_refused(tmp_path, option, value):
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "partner-center", option, value, "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and option in result.stderr
