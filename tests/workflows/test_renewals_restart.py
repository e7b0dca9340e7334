"""A renewal on devhost's Durable engine with the app's real activities, the Partner Center
and mail sandboxes and Azurite, in virtual time, with the host stopped and started again the
moment a customer's decision arrives: the reminders already mailed are not mailed again, the
later ones are not mailed at all, and the decision is applied in Partner Center once
(docs/renewals.md; docs/architecture.md "Exactly once")."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.app import load_app
from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import SubscriptionRecord
from shared.models.money import Money
from shared.models.renewal import DecisionEvent, DecisionRequest, RenewalStart
from shared.renewals import record_decision, rules_of
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
