"""The dunning workflow on devhost (a separate process, virtual clock) against the Stripe,
Partner Center and mail sandboxes and Azurite, the host SIGKILLed mid-case: once right after
a failed-payment notice was handed to the mail relay (before it was marked sent), once right
after Stripe charged the retry (before the case recorded it). Restarted each time, the case
still ends recovered with the invoice charged exactly twice (the failure and the retry that
paid) and the notice delivered once (a copy sent again after the kill carries the same
Message-ID, so it is a detectable duplicate: docs/notifications.md, "Exactly once")."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.mail.server import MailSandbox
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.payments import StripePayments
from tests.devhost.host_process import app_copy, start_host
from tests.sandbox.mail.harness import Inbox
from tests.shared.book.records import customer as book_customer

pytestmark = pytest.mark.slow

APP = Path(__file__).parent / "dunning_kill_app"
KILLS = ("mailed", "charged")
DURABLE = "/runtime/webhooks/durabletask"


def test_a_host_killed_mid_notice_and_mid_charge_charges_once_and_mails_once(
    app_values: dict[str, str],
    mail: MailSandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    prefix = f"k{uuid.uuid4().hex[:16]}"
    env = {
        **app_values,
        "CSPFLOW_TABLE_PREFIX": prefix,
        "CSPFLOW_NOTIFY_SEND_LEASE_S": "1",
        "TASKHUB_NAME": "dunningkill",
        "DUNNING_KILLS": ",".join(KILLS),
        "DUNNING_KILL_LOG": str(tmp_path / "kills.log"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    settings = get_settings()
    book = Book(settings)
    stripe = StripePayments.from_settings(settings)
    cus = stripe.create_customer(f"{prefix}/c", partner_customer_id="c-kill", name="Killed Ltd")
    book.customers.add(
        book_customer(
            "c-kill",
            stripe_customer_id=cus.id,
            contacts=[{"name": "Bea Billing", "email": "bea@killed.example", "role": "billing"}],
        )
    )
    card = "pm_card_sandbox_decline_first_1_insufficient_funds"
    stripe.attach_payment_method(f"{prefix}/pm", cus.id, card)
    inv = stripe.create_invoice(f"{prefix}/i", cus.id, currency="EUR")
    stripe.add_invoice_item(
        f"{prefix}/i", cus.id, invoice_id=inv.id, amount=4200, currency="EUR", description="x"
    )
    stripe.finalize_invoice(f"{prefix}/i", inv.id)
    assert stripe.pay_invoice(f"{prefix}/p", inv.id).decline is not None
    instance = f"dunning-{inv.id}"

    app = app_copy(APP, tmp_path / "app")
    state = tmp_path / "state"
    args = ("--state-dir", str(state), "--virtual-clock")
    host = start_host(app, *args, env=env)
    started = requests.post(
        f"{host.url}{DURABLE}/orchestrators/dunning/{instance}",
        json={"stripe_invoice_id": inv.id, "stripe_customer_id": cus.id, "event_key": "evt_k"},
        timeout=30,
    )
    assert started.status_code == 202, started.text
    runs = 0
    deadline = time.monotonic() + 240
    status: dict[str, Any] = {}
    try:
        while status.get("runtimeStatus") != "Completed":
            assert time.monotonic() < deadline, f"not completed: {status}\n{host.log()[-3000:]}"
            if host.process.poll() is not None:  # killed itself: start the next run
                runs += 1
                assert runs <= len(KILLS), host.log()
                host = start_host(app, *args, env=env)
            else:
                try:
                    answer = requests.get(f"{host.url}{DURABLE}/instances/{instance}", timeout=30)
                except requests.ConnectionError:
                    # The host killed itself while answering (its kills come mid-step, at
                    # any moment of this poll): the next turn restarts it. A host still
                    # running after a reset connection is a failure.
                    if not _exited(host.process):
                        raise
                    continue
                if answer.status_code in (200, 202):
                    status = answer.json()
                    assert status["runtimeStatus"] not in ("Failed", "Terminated"), status
            time.sleep(0.3)
    finally:
        if host.process.poll() is None:
            host.stop()

    # The kills happened where planned.
    assert (tmp_path / "kills.log").read_text().split() == list(KILLS)
    assert runs == len(KILLS)
    output = status["output"]
    output = json.loads(output) if isinstance(output, str) else output
    assert output["status"] == "recovered"
    # Charged exactly twice: the failure that opened the case and the retry that paid.
    assert stripe.payment_attempts(inv.id) == 2
    assert stripe.get_invoice(inv.id).status == "paid"
    # The notice once: every copy has the same Message-ID.
    inbox = Inbox(mail.base_url)
    messages = inbox.messages(to="bea@killed.example")
    assert len({m["message_id"] for m in messages}) == 1
    assert len(inbox.messages(to="bea@killed.example", distinct="1")) == 1
    record = book.dunning.get(inv.id).record
    assert record.status == "recovered" and len(record.case.attempts) == 1
    assert record.case.notices_sent == 1


def _exited(process: subprocess.Popen[str], within_s: float = 10.0) -> bool:
    """Whether the host process has ended, or ends within `within_s`."""
    try:
        process.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_signals_of_one_name_in_quick_succession_are_each_taken_once(
    app_values: dict[str, str],
    mail: MailSandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    """The Python SDK holds back an event that arrives while no wait of its name is
    scheduled and, unless the workflow forgets it once received, hands it to every later
    wait of that name (workflows/dunning.py, `_delivered`): the same `payment_failed` raised
    twelve times, a quarter second apart, must leave the case to finish as it would."""
    prefix = f"q{uuid.uuid4().hex[:16]}"
    env = {
        **app_values,
        "CSPFLOW_TABLE_PREFIX": prefix,
        "TASKHUB_NAME": "dunningsignals",
        "DUNNING_KILL_LOG": str(tmp_path / "kills.log"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    settings = get_settings()
    stripe = StripePayments.from_settings(settings)
    cus = stripe.create_customer(f"{prefix}/c", partner_customer_id="c-q", name="Quick Ltd")
    Book(settings).customers.add(
        book_customer(
            "c-q",
            stripe_customer_id=cus.id,
            contacts=[{"name": "Bea Billing", "email": "bea@quick.example", "role": "billing"}],
        )
    )
    stripe.attach_payment_method(
        f"{prefix}/pm", cus.id, "pm_card_sandbox_decline_first_1_insufficient_funds"
    )
    inv = stripe.create_invoice(f"{prefix}/i", cus.id, currency="EUR")
    stripe.add_invoice_item(
        f"{prefix}/i", cus.id, invoice_id=inv.id, amount=4200, currency="EUR", description="x"
    )
    stripe.finalize_invoice(f"{prefix}/i", inv.id)
    assert stripe.pay_invoice(f"{prefix}/p", inv.id).decline is not None
    instance = f"dunning-{inv.id}"
    host = start_host(
        app_copy(APP, tmp_path / "app"),
        "--state-dir",
        str(tmp_path / "state"),
        "--virtual-clock",
        env=env,
    )
    try:
        started = requests.post(
            f"{host.url}{DURABLE}/orchestrators/dunning/{instance}",
            json={"stripe_invoice_id": inv.id, "stripe_customer_id": cus.id, "event_key": "e1"},
            timeout=30,
        )
        assert started.status_code == 202, started.text
        for _ in range(12):
            time.sleep(0.25)
            requests.post(
                f"{host.url}{DURABLE}/instances/{instance}/raiseEvent/payment_failed",
                json={"event_key": "e1"},
                timeout=30,
            )
        deadline = time.monotonic() + 120
        while True:
            status = requests.get(f"{host.url}{DURABLE}/instances/{instance}", timeout=30).json()
            if status["runtimeStatus"] == "Completed":
                break
            assert status["runtimeStatus"] in ("Running", "Pending"), status
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
    finally:
        host.stop()
    output = status["output"]
    output = json.loads(output) if isinstance(output, str) else output
    assert output["status"] == "recovered"
    assert stripe.payment_attempts(inv.id) == 2
