"""A renewal on devhost's Durable engine with the app's real activities, the Partner Center
and mail sandboxes and Azurite, in virtual time, with the host stopped and started again the
moment a customer's decision arrives: the reminders already mailed are not mailed again, the
later ones are not mailed at all, and the decision is applied in Partner Center once
(docs/renewals.md; docs/architecture.md "Exactly once"); and the same across SIGKILLs of a
devhost process."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.app import load_app
from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import SubscriptionRecord
from shared.models.money import Money
from shared.models.renewal import DecisionEvent, DecisionRequest, RenewalStart
from shared.renewals import record_decision, rules_of
from tests.devhost.host_process import app_copy, start_host
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.harness import Harness
from tests.shared.book.records import customer as book_customer
from workflows.renewals import DECISION_EVENT, instance_id

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def engine(db: Path, at: datetime) -> DurableEngine:
    running = DurableEngine(load_app(ROOT), db, clock=VirtualClock(at))
    running.start()
    return running


def wait(what: str, done: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.05)


def test_a_restart_as_a_decision_arrives_loses_nothing_and_mails_nothing_twice(
    app_env: pytest.MonkeyPatch, pc: Harness, mail: Any, tmp_path: Path
):
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"r{uuid.uuid4().hex[:16]}")
    reset_settings()
    book = Book(get_settings())
    tenant = pc.customer()
    sid = pc.buy(tenant, quantity=4)
    read = pc.client.get_subscription(tenant, sid)
    book.customers.add(book_customer("c-restart", tenant_id=tenant, billing_currency="USD"))
    price = Money(amount_minor=600, currency="USD")
    book.subscriptions.add(
        SubscriptionRecord(customer_id="c-restart", subscription=read, unit_price=price)
    )
    start = RenewalStart(customer_id="c-restart", subscription_id=sid, term_end=read.term_end)
    iid = instance_id(sid, read.term_end)
    db = tmp_path / "hub.db"

    def reminded() -> int:
        found = book.renewals.find(sid, read.term_end)
        return 0 if found is None else len(found.record.reminders_sent)

    first = engine(db, read.term_end - timedelta(days=63))
    try:
        first.start_new("renewal", iid, start.model_dump(mode="json"))
        wait("the first reminder", lambda: reminded() == 1)
        held = first.clock.hold()  # the decision arrives before anything else happens
        renewal = book.renewals.get(sid, read.term_end).record
        stored = book.subscriptions.get("c-restart", sid).record
        answer, _ = record_decision(
            book, renewal, stored, DecisionRequest(choice="cancel"), by="customer",
            now=first.clock.now(), rules=rules_of(get_settings()),
        )  # fmt: skip
        assert answer.accepted
        event = DecisionEvent(decisions=1).model_dump(mode="json")
        first.raise_event(iid, DECISION_EVENT, event)
        stopped_at = first.clock.now()
        first.clock.release(held)
    finally:
        first.close()

    second = engine(db, stopped_at)
    try:

        def past_the_lock() -> bool:
            status = second.get_status(iid)
            custom = getattr(status, "custom_status", None) or {}
            return isinstance(custom, dict) and custom.get("phase") in (
                "waiting_for_term_end",
                "confirming",
            )

        wait("the decision applied and the lock passed", past_the_lock)
    finally:
        second.close()

    renewal = book.renewals.get(sid, read.term_end).record
    assert (renewal.decision, renewal.decided_by, renewal.decisions) == (
        "turn_off_auto_renew",
        "customer",
        1,
    )
    assert renewal.applied_at is not None
    assert pc.client.get_subscription(tenant, sid).auto_renew_enabled is False
    # The reminders due before the decision (the 60-day one; the 30-day one too when the idle
    # clock reached it before the decision did), each mailed once; none after it.
    assert renewal.decided_at is not None
    assert 1 <= len(renewal.reminders_sent) <= 2
    assert all(at <= renewal.decided_at for at in renewal.reminders_sent)
    mails = Inbox(mail.base_url).messages()
    reminders = [m for m in mails if "Decide by" in m["subject"]]
    assert len(reminders) == len(renewal.reminders_sent), mails
    assert len(mails) == len(reminders) + 1, mails  # and the decision's confirmation, once


KILL_APP = Path(__file__).parent / "renewals_kill_app"
KILLS = ("mailed", "applied")
DURABLE = "/runtime/webhooks/durabletask"


def test_a_host_sigkilled_mid_reminder_and_mid_decision_mails_once_and_loses_no_decision(
    app_values: dict[str, str],
    pc: Harness,
    mail: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    """devhost as a separate process on a virtual clock, SIGKILLed (no clean close) right
    after the first reminder was handed to the mail relay (before it was marked sent), and
    right after Partner Center accepted the customer's cancellation (before the renewal was
    marked applied). The customer decides while the host is dead. Restarted each time: the
    reminder reaches the customer once (a copy sent again carries the same Message-ID:
    docs/notifications.md), no reminder follows the decision, and the decision is applied
    in Partner Center before the lock (its write replayed by MS-RequestId, not made twice)."""
    env = {
        **app_values,
        "CSPFLOW_TABLE_PREFIX": f"k{uuid.uuid4().hex[:16]}",
        "CSPFLOW_NOTIFY_SEND_LEASE_S": "1",
        "TASKHUB_NAME": "renewalkill",
        "RENEWAL_KILLS": ",".join(KILLS),
        "RENEWAL_KILL_LOG": str(tmp_path / "kills.log"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    book = Book(get_settings())
    tenant = pc.customer()
    sid = pc.buy(tenant, quantity=4)
    read = pc.client.get_subscription(tenant, sid)
    email = "ada@renewal-kill.example"
    book.customers.add(
        book_customer("c-kill", tenant_id=tenant, billing_currency="USD",
                      contacts=[{"name": "Ada Lee", "email": email}])
    )  # fmt: skip
    price = Money(amount_minor=600, currency="USD")
    book.subscriptions.add(
        SubscriptionRecord(customer_id="c-kill", subscription=read, unit_price=price)
    )
    start = RenewalStart(customer_id="c-kill", subscription_id=sid, term_end=read.term_end)
    iid = instance_id(sid, read.term_end)

    replays_before = pc.state()["stats"]["replays"]
    app = app_copy(KILL_APP, tmp_path / "app")
    args = ("--state-dir", str(tmp_path / "state"), "--virtual-clock")
    host = start_host(app, *args, env=env)
    phase: Any = None
    try:
        started = requests.post(
            f"{host.url}{DURABLE}/orchestrators/renewal/{iid}",
            json=start.model_dump(mode="json"),
            timeout=30,
        )
        assert started.status_code == 202, started.text
        assert host.process.wait(timeout=120) == -signal.SIGKILL, host.log()[-3000:]

        # The customer decides while the host is down: recorded in the book, then raised.
        renewal = book.renewals.get(sid, read.term_end).record
        stored = book.subscriptions.get("c-kill", sid).record
        answer, _ = record_decision(
            book, renewal, stored, DecisionRequest(choice="cancel"), by="customer",
            now=pc.clock.now(), rules=rules_of(get_settings()),
        )  # fmt: skip
        assert answer.accepted
        host = start_host(app, *args, env=env)
        requests.post(
            f"{host.url}{DURABLE}/instances/{iid}/raiseEvent/{DECISION_EVENT}",
            json=DecisionEvent(decisions=1).model_dump(mode="json"),
            timeout=30,
        )
        assert host.process.wait(timeout=120) == -signal.SIGKILL, host.log()[-3000:]

        host = start_host(app, *args, env=env)
        deadline = time.monotonic() + 180
        while phase not in ("waiting_for_term_end", "confirming", "closed"):
            assert host.process.poll() is None, host.log()[-3000:]
            assert time.monotonic() < deadline, f"stuck in {phase}\n{host.log()[-3000:]}"
            polled = requests.get(f"{host.url}{DURABLE}/instances/{iid}", timeout=30)
            if polled.status_code in (200, 202):
                status = polled.json()
                assert status["runtimeStatus"] not in ("Failed", "Terminated"), status
                phase = (status.get("customStatus") or {}).get("phase")
            time.sleep(0.3)
    finally:
        if host.process.poll() is None:
            host.stop()

    assert (tmp_path / "kills.log").read_text().split() == list(KILLS)
    renewal = book.renewals.get(sid, read.term_end).record
    assert (renewal.decision, renewal.decided_by, renewal.decisions) == (
        "turn_off_auto_renew",
        "customer",
        1,
    )
    assert renewal.applied_at is not None and renewal.refused is None
    assert renewal.applied_at <= read.term_end - timedelta(hours=24)  # before the lock
    assert pc.client.get_subscription(tenant, sid).auto_renew_enabled is False
    # the write cut off by the kill was sent again with its MS-RequestId: answered, not redone
    assert pc.state()["stats"]["replays"] > replays_before
    inbox = Inbox(mail.base_url)
    reminders = [m for m in inbox.messages(to=email) if "Decide by" in m["subject"]]
    # the 60-day reminder, killed right after the relay took it: one Message-ID, and no
    # later reminder once the customer had decided
    assert len({m["message_id"] for m in reminders}) == 1, reminders
    distinct = [m for m in inbox.messages(to=email, distinct="1") if "Decide by" in m["subject"]]
    assert len(distinct) == 1
    confirmations = [
        m for m in inbox.messages(to=email, distinct="1") if "Decide by" not in m["subject"]
    ]
    assert len(confirmations) == 1  # the decision confirmed once
