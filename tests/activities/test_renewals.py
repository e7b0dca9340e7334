"""The renewal activities against a real Partner Center sandbox (HTTPS, MSAL), the mail
sandbox and Azurite, called as the Functions host calls them, on the sandbox's clock: the
plan of an annual term (docs/rules.md#reminder-cadence), a reminder mailed once with its
price, deadline and signed link, a cancellation applied in Partner Center before the lock
(auto-renew off, docs/rules.md#cancel) and not twice, and after the term end the outcome
recorded once with its KPI event (docs/rules.md#renewal-processing)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

import activities.renewals as renewal_activities
from activities.renewals import (
    confirm_renewal,
    open_renewal,
    plan_renewal_decision,
    record_renewal_applied,
    send_renewal_reminder,
    tell_renewal_not_applied,
)
from activities.subscriptions import read_subscription, set_auto_renew
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import SubscriptionRecord
from shared.models.money import Money
from shared.models.renewal import DecisionRequest, RenewalStart
from shared.renewals import id_of, record_decision, rules_of
from shared.signed_links import verify
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.harness import Harness
from tests.shared.book.records import customer as book_customer


@pytest.fixture
def book(app_env: pytest.MonkeyPatch, pc: Harness) -> Iterator[Book]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    app_env.setenv("CSPFLOW_LINK_SIGNING_KEY", "renewal-test-key-" + uuid.uuid4().hex)
    app_env.setattr(renewal_activities, "_now", lambda settings: pc.clock.now())
    reset_settings()
    yield Book(get_settings())


def bought(pc: Harness, book: Book) -> RenewalStart:
    tenant = pc.customer()
    subscription_id = pc.buy(tenant, quantity=10)
    read = pc.client.get_subscription(tenant, subscription_id)
    book.customers.add(book_customer("c-" + tenant[:8], tenant_id=tenant, billing_currency="USD"))
    book.subscriptions.add(
        SubscriptionRecord(
            customer_id="c-" + tenant[:8],
            subscription=read,
            unit_price=Money(amount_minor=720, currency="USD"),
        )
    )
    return RenewalStart(
        customer_id="c-" + tenant[:8], subscription_id=subscription_id, term_end=read.term_end
    )


def run(activity: Any, step: str, **payload: Any) -> Any:
    envelope = activity.run({"step_key": f"renewal-test/{step}", **payload})
    assert envelope["ok"], envelope
    return envelope["value"]


def test_a_term_is_planned_reminded_once_cancelled_before_the_lock_and_recorded_once(
    pc: Harness, book: Book, mail: Any
):
    start = bought(pc, book)
    payload = {"start": start.model_dump(mode="json")}
    plan = run(open_renewal, "open", **payload)
    assert [r["days_before"] for r in plan["reminders"]] == [60, 30, 7]
    assert plan["deadline"] == (start.term_end - timedelta(hours=48)).isoformat().replace(
        "+00:00", "Z"
    )

    reminder = plan["reminders"][0]
    pc.advance_to(start.term_end - timedelta(days=62))
    first = run(send_renewal_reminder, "reminder-60d", reminder=reminder, **payload)
    again = run(send_renewal_reminder, "reminder-60d", reminder=reminder, **payload)
    assert first["sent"] and again["reason"] == "sent before"
    inbox = Inbox(mail.base_url)
    messages = inbox.messages()
    assert len(messages) == 1
    body = inbox.read(messages[0]["id"])
    text = str(body)
    assert "72.00" in text  # the next term: 10 seats at this term's 7.20, no price list
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    assert renewal.reminders_sent

    # the link in the mail opens this renewal of this customer
    token = text.split("/api/r/")[1].split()[0].split('"')[0].split("\\")[0]
    claims = verify(get_settings(), token, "renewal-decision", pc.clock.now())
    assert claims.subject_id == id_of(renewal) and claims.customer_id == start.customer_id

    stored = book.subscriptions.get(start.customer_id, start.subscription_id).record
    answer, _ = record_decision(
        book,
        renewal,
        stored,
        DecisionRequest(choice="cancel"),
        by="customer",
        now=pc.clock.now(),
        rules=rules_of(get_settings()),
    )
    assert answer.accepted
    tenant = str(book.customers.get(start.customer_id).record.tenant_id)
    assert plan["tenant_id"] == tenant
    ref = {"customer_id": tenant, "subscription_id": start.subscription_id}
    read = read_subscription.run(ref)["value"]["subscription"]
    writes = run(plan_renewal_decision, "plan-1", read=read, by_default=False, **payload)
    assert (writes["decision"], writes["auto_renew"], writes["schedule"]) == (
        "turn_off_auto_renew",
        False,
        None,
    )
    after = run(set_auto_renew, "auto-renew-1", enabled=False, **ref)["subscription"]
    assert pc.client.get_subscription(tenant, start.subscription_id).auto_renew_enabled is False
    applied = run(record_renewal_applied, "applied-1", read=after, summary="off", **payload)
    assert applied["applied"]
    # at the deadline Partner Center already holds it: nothing more to write
    again = run(plan_renewal_decision, "plan-2", read=after, by_default=True, **payload)
    assert (again["possible"], again["auto_renew"], again["schedule"]) == (True, None, None)

    not_yet = run(confirm_renewal, "confirm-1", last_look=False, **payload)
    assert not_yet["settled"] is False
    pc.advance_to(start.term_end + timedelta(hours=2))
    done = run(confirm_renewal, "confirm-2", last_look=False, **payload)
    assert (done["settled"], done["outcome"], done["against_decision"]) == (
        True,
        "cancelled",
        False,
    )
    repeat = run(confirm_renewal, "confirm-3", last_look=False, **payload)
    assert repeat["summary"] == "recorded before"
    kpi = book.kpi_events.find("renewal_outcome", id_of(renewal), start.term_end)
    assert kpi is not None and kpi.outcome == "cancelled"


def test_a_decision_never_applied_by_the_lock_is_refused_with_the_next_action_and_ops_alerted(
    pc: Harness, book: Book, mail: Any
):
    # docs/rules.md#renewal-processing, #renewal-lock: a cancellation Partner Center held off
    # (409 800082) until the lock began is refused, never dropped silently.
    start = bought(pc, book)
    payload = {"start": start.model_dump(mode="json")}
    run(open_renewal, "open", **payload)
    pc.advance_to(start.term_end - timedelta(days=3))
    renewal = book.renewals.get(start.subscription_id, start.term_end).record
    stored = book.subscriptions.get(start.customer_id, start.subscription_id).record
    answer, _ = record_decision(
        book, renewal, stored, DecisionRequest(choice="cancel"), by="customer",
        now=pc.clock.now(), rules=rules_of(get_settings()),
    )  # fmt: skip
    assert answer.accepted
    tenant = str(book.customers.get(start.customer_id).record.tenant_id)
    ref = {"customer_id": tenant, "subscription_id": start.subscription_id}
    pc.advance_to(start.term_end - timedelta(hours=24))  # the lock
    read = read_subscription.run(ref)["value"]["subscription"]
    plan = run(plan_renewal_decision, "plan-9", read=read, by_default=False, **payload)
    assert plan["possible"] is False and plan["rule"] == "renewal-lock"
    assert "next: cancel inside the new term's 7-day cancellation window" in plan["reason"]
    refused = book.renewals.get(start.subscription_id, start.term_end).record
    assert refused.refused == plan["reason"] and refused.applied_at is None
    alert = book.alerts.find(pc.clock.now(), f"renewal-refused:{id_of(refused)}")
    assert alert is not None and alert.kind == "renewal"
    assert pc.client.get_subscription(tenant, start.subscription_id).auto_renew_enabled is True
    # the customer told once: why, that it renews, and the cancellation window with its cost
    told = run(tell_renewal_not_applied, "tell-not-applied-9", reason="renewal_processing",
               **payload)  # fmt: skip
    again = run(tell_renewal_not_applied, "tell-not-applied-9", reason="renewal_processing",
                **payload)  # fmt: skip
    assert told["sent"] and again["sent"]
    inbox = Inbox(mail.base_url)
    [message] = [m for m in inbox.messages() if "could not be applied" in m["subject"]]
    text = str(inbox.read(message["id"]))
    assert "already processing the renewal" in text and "as it is now" in text
    assert "within the first 7 days of the new term" in text
    # a day of the new term: 10 seats at 7.20 a month, over 30 days
    assert "2.40" in text


def test_a_customer_with_its_own_reminder_offsets_is_planned_on_them(pc: Harness, book: Book):
    # docs/rules.md#reminder-cadence: offsets configurable per partner and per customer
    start = bought(pc, book)
    book.customers.update(
        start.customer_id, lambda c: c.model_copy(update={"renewal_reminder_days": (90, 45, 10)})
    )
    plan = run(open_renewal, "open", start=start.model_dump(mode="json"))
    assert [r["days_before"] for r in plan["reminders"]] == [90, 45, 10]
