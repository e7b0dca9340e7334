"""The licence change activities against Azurite (the book) and the Stripe sandbox, invoked as
the Functions host invokes them: the queue's next change in arrival order, what a change is
decided with, its states recorded once with the timeline, the KPI and the subscription's
mirror, and where a decrease's credit goes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from activities.licence_change import (
    find_creditable_invoice,
    load_licence_change,
    next_licence_change,
    record_licence_change,
)
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import Money
from tests.activities.test_payments import charge, customer_with, line
from tests.shared.book.records import (
    T0,
    customer,
    licence_change,
    subscription,
    subscription_record,
)

TENANT = "7c6c4c1e-0000-4000-8000-000000000001"


def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    value: dict[str, Any] = envelope["value"]
    return value


@pytest.fixture
def book(app_env: pytest.MonkeyPatch) -> Iterator[Book]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    the_book = Book(get_settings())
    the_book.customers.add(customer(tenant_id=TENANT, stripe_customer_id="cus_Tania0001"))
    the_book.subscriptions.add(
        subscription_record(unit_price=Money(amount_minor=690, currency="EUR"))
    )
    yield the_book


def test_the_queue_takes_the_first_change_still_waiting_in_arrival_order(book: Book):
    book.licence_changes.request(licence_change("chg-b", requested_at=T0))
    book.licence_changes.request(licence_change("chg-a", requested_at=T0 + timedelta(seconds=1)))
    first = ok(next_licence_change.run({"subscription_id": "sub-1"}))
    assert first["change"]["id"] == "chg-b"
    assert ok(next_licence_change.run({"subscription_id": "sub-2"})) == {"change": None}


def test_a_change_is_loaded_with_what_it_is_decided_with(book: Book, app_env):
    book.licence_changes.request(licence_change())
    app_env.setenv("CSPFLOW_LICENCE_CHANGE_APPROVAL_SEATS", "20")
    reset_settings()
    loaded = ok(load_licence_change.run({"change_id": "chg-1"}))
    assert loaded["tenant_id"] == TENANT
    assert loaded["unit_price"] == {"amount_minor": 690, "currency": "EUR"}
    assert loaded["thresholds"]["seats_added"] == 20
    assert loaded["contacts"][0]["email"] == "ada@contoso.example"
    missing = load_licence_change.run({"change_id": "chg-9"})
    assert missing["ok"] is False and missing["failure"]["code"] == "not_in_the_book"


def test_a_change_applied_is_recorded_once_with_its_kpi_and_the_seats_added(book: Book):
    book.licence_changes.request(licence_change())
    after = subscription(quantity=8).model_dump(mode="json", by_alias=True)
    request = {
        "step_key": "licence-change-chg-1/record-final-applied",
        "change_id": "chg-1",
        "status": "applied",
        "at": (T0 + timedelta(minutes=3)).isoformat(),
        "quantity_before": 5,
        "quantity_after": 8,
        "effective_at": (T0 + timedelta(minutes=3)).isoformat(),
        "charge": {"amount_minor": 1380, "currency": "EUR"},
        "rule": "add-seats",
        "subscription": after,
        "seats_added": 3,
        "unit_price": {"amount_minor": 700, "currency": "EUR"},
    }
    for _ in range(2):  # a retried step
        recorded = ok(record_licence_change.run(request))
    assert recorded["change"]["status"] == "applied"
    kpi = book.kpi_events.find("licence_change_lead_time", "chg-1", T0 + timedelta(minutes=3))
    assert kpi is not None and kpi.duration_seconds == 180 and kpi.outcome == "applied"
    mirror = book.subscriptions.get("c-1", "sub-1").record
    assert mirror.subscription.quantity == 8
    assert [b.quantity for b in mirror.seat_batches] == [3]
    assert mirror.unit_price == Money(amount_minor=700, currency="EUR")
    timeline = [e.summary for e in book.timeline.page("c-1").items]
    assert any("5 -> 8 seats): applied" in s for s in timeline)


def test_a_partial_upgrades_new_subscription_is_recorded_with_the_target_price(book: Book):
    book.licence_changes.request(licence_change())
    new = subscription("sub-9", quantity=2).model_dump(mode="json", by_alias=True)
    request = {
        "step_key": "licence-change-chg-1/record-final-applied",
        "change_id": "chg-1",
        "status": "applied",
        "at": (T0 + timedelta(minutes=3)).isoformat(),
        "effective_at": (T0 + timedelta(minutes=3)).isoformat(),
        "new_subscription_id": "sub-9",
        "new_subscription": new,
        "new_unit_price": {"amount_minor": 1200, "currency": "EUR"},
    }
    for _ in range(2):  # a retried step
        ok(record_licence_change.run(request))
    added = book.subscriptions.get("c-1", "sub-9").record
    assert added.subscription.quantity == 2
    assert added.unit_price == Money(amount_minor=1200, currency="EUR")
    assert sorted(r.subscription.id for r in book.subscriptions.of_customer("c-1").items) == [
        "sub-1",
        "sub-9",
    ]


def test_a_decreases_credit_goes_to_the_latest_paid_invoice_that_can_carry_it(app_env, sandbox):
    cus = customer_with("pm_card_visa", step="chg-credit")
    paid = charge(cus, [line("sub-1", 2000)], step="chg-credit/first")
    assert paid.status == "paid"
    found = ok(
        find_creditable_invoice.run(
            {"stripe_customer_id": cus, "amount": {"amount_minor": 1500, "currency": "EUR"}}
        )
    )
    assert found == {"invoice_id": paid.invoice.id}
    too_much = ok(
        find_creditable_invoice.run(
            {"stripe_customer_id": cus, "amount": {"amount_minor": 2001, "currency": "EUR"}}
        )
    )
    assert too_much == {"invoice_id": None}


def test_a_change_applied_with_money_moved_records_its_charge_once(book: Book):
    book.licence_changes.request(licence_change())
    at = T0 + timedelta(minutes=3)
    request = {
        "step_key": "licence-change-chg-1/record-final-applied",
        "change_id": "chg-1",
        "status": "applied",
        "at": at.isoformat(),
        "quantity_before": 5,
        "quantity_after": 8,
        "effective_at": at.isoformat(),
        "charge": {"amount_minor": 1380, "currency": "EUR"},
        "invoice_id": "in_2",
        "rule": "add-seats",
    }
    for _ in range(2):  # a retried step
        ok(record_licence_change.run(request))
    charges = book.charges.of_customer(
        "c-1", starting_from=at.date(), starting_before=at.date() + timedelta(days=1)
    ).items
    assert [(c.id, c.kind, c.quantity, c.amount, c.stripe_invoice_id) for c in charges] == [
        ("change-chg-1", "add_quantity", 3, Money(amount_minor=1380, currency="EUR"), "in_2")
    ]
    assert charges[0].period_end == book.subscriptions.get("c-1", "sub-1").record.term_end
