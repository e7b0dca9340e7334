"""The reconciliation's activities against a real Partner Center sandbox (its ledger, its
monthly invoice, the Graph reconciliation export) and Azurite: a month cspflow billed
exactly is 100 % matched; seats Partner Center billed the partner for behind cspflow's back
(`POST /_sandbox/charges`) are leakage at the customer's price, alerted once; a price at
Microsoft's cost is flagged; the KPI event is recorded once however often it runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from activities.reconciliation import reconcile_invoice, resolve_partner_invoice
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import (
    Contact,
    Customer,
    Invoice,
    InvoiceLine,
    Money,
    Offer,
    SubscriptionRecord,
)
from shared.models.billing import Charge
from shared.models.reconciliation import ReconciliationSummary
from tests.sandbox.partner_center.harness import BASIC, START, Harness

PERIOD = "2026-03"


def usd(text: str) -> Money:
    return Money.from_decimal(text, "USD")


@pytest.fixture
def book(app_env: pytest.MonkeyPatch) -> Iterator[Book]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    yield Book(get_settings())


def _day(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


@pytest.fixture
def billed_month(book: Book, pc: Harness) -> dict[str, Any]:
    """A customer in Partner Center who bought 3 seats of Business Basic (1 year, billed
    monthly) on 2 March 2026 (Microsoft charges 3 x 6.00 USD for 2 March..1 April), and the
    same in the book: sold at 7.00 USD a seat, its order's invoice billing the 3 seats."""
    tenant = pc.customer()
    sid = pc.buy(tenant, quantity=3)
    sub = pc.client.get_subscription(tenant, sid)
    customer = Customer(
        id="c-" + tenant[:8],
        partner_id="p",
        company_name="Contoso",
        tenant_id=UUID(tenant),
        domain="contoso.example",
        contacts=(Contact(name="Ada", email="ada@contoso.example"),),
        billing_currency="USD",
        country="US",
    )
    book.customers.add(customer)
    book.subscriptions.add(
        SubscriptionRecord(customer_id=customer.id, subscription=sub, unit_price=usd("7.00"))
    )
    book.invoices.issue(
        Invoice(
            id=f"{customer.id}-{PERIOD}",
            customer_id=customer.id,
            currency="USD",
            lines=(
                InvoiceLine(
                    description="Business Basic, 3 seats",
                    kind="new",
                    subscription_id=sid,
                    quantity=3,
                    amount=usd("21.00"),
                    period_start=_day(date(2026, 3, 2)),
                    period_end=_day(date(2026, 4, 2)),
                ),
            ),
            status="paid",
            issued_at=START,
            due_at=START,
        )
    )
    return {"tenant": tenant, "sid": sid, "customer": customer}


def close_march(pc: Harness) -> str:
    pc.advance_to(START.replace(month=4, day=8, hour=1))
    envelope = resolve_partner_invoice.run({"period": PERIOD})
    assert envelope["ok"], envelope
    invoice_id: str = envelope["value"]["invoice_id"]
    return invoice_id


def reconcile(invoice_id: str) -> ReconciliationSummary:
    envelope = reconcile_invoice.run(
        {
            "step_key": f"reconciliation-{PERIOD}/reconcile",
            "invoice_id": invoice_id,
            "period": PERIOD,
        }
    )
    assert envelope["ok"], envelope
    return ReconciliationSummary.model_validate(envelope["value"])


def test_a_month_billed_exactly_is_fully_matched_and_its_kpi_recorded_once(book, pc, billed_month):
    invoice_id = close_march(pc)
    summary = reconcile(invoice_id)
    assert (summary.lines, summary.matched, summary.billing_accuracy) == (1, 1, Decimal(1))
    assert summary.leakage == () and not summary.alerted
    (line,) = book.reconciled_lines.of_period(PERIOD).items
    assert (line.classification, line.invoice_id, line.billed_quantity) == (
        "matched",
        f"{billed_month['customer'].id}-{PERIOD}",
        3,
    )
    assert line.microsoft_amount == usd("18.00")
    again = reconcile(invoice_id)  # the same rows, the same KPI event
    assert again.billing_accuracy == summary.billing_accuracy
    events = book.kpi_events.of_month(datetime(2026, 3, 31, tzinfo=UTC)).items
    assert [(e.name, e.value) for e in events if e.subject_id.endswith(invoice_id)] == [
        ("billing_accuracy", Decimal(1))
    ]


def test_seats_billed_behind_cspflows_back_are_leakage_at_the_sell_price_and_alerted(
    book, pc, billed_month
):
    pc.advance(timedelta(days=3))  # 5 March: 28 of the cycle's 31 days left
    pc.admin(
        "POST",
        "charges",
        {
            "customerId": billed_month["tenant"],
            "subscriptionId": billed_month["sid"],
            "quantity": 2,
        },
    )
    assert pc.client.get_subscription(billed_month["tenant"], billed_month["sid"]).quantity == 3
    summary = reconcile(close_march(pc))
    # Microsoft: 2 seats at 6.00 x 28/31 = 5.4194 (4 decimals). At Contoso's 7.00:
    # 2 x 7.00 = 14.00 x 5.4194 / 6.00 = 12.6453.. = 12.65 USD of leakage.
    assert (summary.lines, summary.matched, summary.billing_accuracy) == (2, 1, Decimal("0.5"))
    assert summary.counts["missed_billing"] == 1
    assert summary.leakage == (usd("12.65"),) and summary.alerted
    missed = book.reconciled_lines.of_period(PERIOD, classification="missed_billing").items
    assert [(m.charge_type, m.microsoft_quantity, m.leakage) for m in missed] == [
        ("addQuantity", 2, usd("12.65"))
    ]
    today = book.clock.now()  # raised when the reconciliation ran
    alerts = book.alerts.of_days(today - timedelta(days=1), today).items
    assert [a.kind for a in alerts] == ["billing_leakage"]
    assert "12.65 USD" in alerts[0].summary


def test_a_price_at_microsofts_cost_is_flagged(book, pc, billed_month):
    book.offers.save(
        Offer(
            catalog_item_id=BASIC,
            country="US",
            name="Business Basic",
            term_duration="P1Y",
            billing_cycle="monthly",
            unit_cost=usd("7.00"),
            family="CFQ7TTC0LH18",
            rank=1,
        )
    )
    summary = reconcile(close_march(pc))
    assert summary.counts["price_anomaly"] == 1
    (line,) = book.reconciled_lines.of_period(PERIOD).items
    assert "no markup" in line.reason


def test_a_period_partner_center_has_not_invoiced_is_refused_with_the_reason(book, pc):
    envelope = resolve_partner_invoice.run({"period": "2031-01"})
    assert not envelope["ok"] and "invoice of 2031-01" in envelope["failure"]["message"]


def test_charges_made_outside_the_billing_run_are_what_microsofts_lines_are_matched_to(book, pc):
    """The order's first period and two seats added on 5 March, charged by cspflow when they
    happened (the book's Charges, no billing run invoice): both of Microsoft's lines matched.
    Microsoft: 3 x 6.00 for 2 March..1 April, then 2 seats x 6.00 x 28/31 = 5.4194 each."""
    tenant = pc.customer()
    sid = pc.buy(tenant, quantity=3)
    customer = Customer(
        id="c-" + tenant[:8], partner_id="p", company_name="Contoso", tenant_id=UUID(tenant),
        domain="contoso.example", contacts=(Contact(name="Ada", email="ada@contoso.example"),),
        billing_currency="USD", country="US",
    )  # fmt: skip
    book.customers.add(customer)
    book.subscriptions.add(
        SubscriptionRecord(
            customer_id=customer.id,
            subscription=pc.client.get_subscription(tenant, sid),
            unit_price=usd("7.00"),
        )
    )
    pc.advance(timedelta(days=3))
    pc.client.set_quantity(tenant, sid, 5, request_id=str(uuid.uuid4()))
    common = {"customer_id": customer.id, "subscription_id": sid, "charged_at": START,
              "period_end": _day(date(2026, 4, 2))}  # fmt: skip
    book.charges.record(
        Charge(id="order-o1-" + sid, kind="new", quantity=3, amount=usd("21.00"),
               period_start=_day(date(2026, 3, 2)), source="order", reference="o1",
               stripe_invoice_id="in_first", **common)
    )  # fmt: skip
    book.charges.record(
        Charge(id="change-ch1", kind="add_quantity", quantity=2, amount=usd("12.65"),
               period_start=START + timedelta(days=3), source="licence_change",
               reference="ch1", stripe_invoice_id="in_seats", **common)
    )  # fmt: skip
    summary = reconcile(close_march(pc))
    assert (summary.lines, summary.matched, summary.leakage) == (2, 2, ())
    lines = book.reconciled_lines.of_period(PERIOD).items
    assert [(x.charge_type, x.invoice_id, x.billed_amount) for x in lines] == [
        ("new", "in_first", usd("21.00")),
        ("addQuantity", "in_seats", usd("12.65")),
    ]
