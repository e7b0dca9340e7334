"""Orders, invoices, payment attempts, SLA clocks and KPI events: validation and round trips."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel

from shared.models import (
    Invoice,
    KpiEvent,
    Money,
    Order,
    PaymentAttempt,
    SlaClock,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
USD = {"amount_minor": 690, "currency": "USD"}


def order_data(**overrides):
    line = {
        "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "quantity": 5,
        "term_duration": "P1Y",
        "billing_cycle": "monthly",
        "unit_price": USD,
    }
    return {"id": "ord-1", "customer_id": "cust-1", "created_at": T0, "lines": [line]} | overrides


def invoice_data(**overrides):
    line = {
        "description": "5 x Microsoft 365 Business Basic",
        "kind": "new",
        "subscription_id": "sub-1",
        "quantity": 5,
        "amount": {"amount_minor": 3450, "currency": "USD"},
        "period_start": T0,
        "period_end": T0 + timedelta(days=31),
    }
    return {
        "id": "inv-1",
        "customer_id": "cust-1",
        "currency": "USD",
        "lines": [line],
        "issued_at": T0,
        "due_at": T0,
    } | overrides


def attempt_data(**overrides):
    return {
        "invoice_id": "inv-1",
        "attempted_at": T0,
        "amount": {"amount_minor": 3450, "currency": "USD"},
        "payment_method_id": "pm_card_visa",
        "outcome": "failed",
        "failure_code": "card_declined",
        "decline_code": "insufficient_funds",
    } | overrides


def sla_data(**overrides):
    return {
        "kind": "onboarding",
        "subject_id": "ord-1",
        "customer_id": "cust-1",
        "tier": "premium",
        "started_at": T0,
        "at_risk_at": T0 + timedelta(hours=3),
        "deadline": T0 + timedelta(hours=4),
    } | overrides


def kpi_data(**overrides):
    return {
        "name": "dunning_recovery",
        "occurred_at": T0,
        "customer_id": "cust-1",
        "subject_id": "inv-1",
        "outcome": "recovered",
        "amount": {"amount_minor": 3450, "currency": "USD"},
        "value": "0.98",
        "dimensions": {"tier": "premium"},
    } | overrides


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (Order, order_data()),
        (Invoice, invoice_data()),
        (PaymentAttempt, attempt_data()),
        (SlaClock, sla_data(completed_at=T0 + timedelta(hours=1))),
        (KpiEvent, kpi_data()),
    ],
)
def test_record_round_trips_through_a_durable_boundary(model: type[BaseModel], data):
    record = model.model_validate(data)
    dumped = record.model_dump(mode="json")
    assert model.model_validate(dumped) == record


def test_order_total_sums_lines():
    order = Order.model_validate(order_data())
    assert order.total == Money(amount_minor=3450, currency="USD")
    assert order.lines[0].amount == order.total


def test_invoice_total_sums_lines():
    assert Invoice.model_validate(invoice_data()).total == Money(amount_minor=3450, currency="USD")


def test_kpi_rate_is_kept_as_an_exact_decimal():
    assert KpiEvent.model_validate(kpi_data()).value == Decimal("0.98")


BAD_INPUT = [
    (Order, order_data(lines=[]), "lines"),
    (Order, order_data(created_at="2026-03-01T09:00:00"), "created_at"),
    (Order, order_data(status="shipped"), "status"),
    (Order, order_data(lines=[{**order_data()["lines"][0], "quantity": 0}]), "lines.0.quantity"),
    (
        Order,
        order_data(
            lines=[
                {**order_data()["lines"][0], "unit_price": {"amount_minor": 6.9, "currency": "USD"}}
            ]
        ),
        "lines.0.unit_price.amount_minor",
    ),
    (
        Order,
        order_data(
            lines=[
                {**order_data()["lines"][0], "unit_price": {"amount_minor": -1, "currency": "USD"}}
            ]
        ),
        "lines.0.unit_price",
    ),
    (Invoice, invoice_data(status="late"), "status"),
    (Invoice, invoice_data(stripe_invoice_id="ch_1"), "stripe_invoice_id"),
    (Invoice, invoice_data(currency="usdollar"), "currency"),
    (PaymentAttempt, attempt_data(outcome="bounced"), "outcome"),
    (
        PaymentAttempt,
        attempt_data(amount={"amount_minor": True, "currency": "USD"}),
        "amount.amount_minor",
    ),
    (SlaClock, sla_data(kind="support"), "kind"),
    (SlaClock, sla_data(deadline="tomorrow"), "deadline"),
    (KpiEvent, kpi_data(name="vibes"), "name"),
    (KpiEvent, kpi_data(value=0.98), "value"),
    (KpiEvent, kpi_data(value=True), "value"),
    (KpiEvent, kpi_data(duration_seconds=-1), "duration_seconds"),
]


@pytest.mark.parametrize(("model", "data", "field"), BAD_INPUT)
def test_bad_record_input_names_the_field(rejects, model, data, field):
    assert field in rejects(model, data)


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (
            Order,
            order_data(
                lines=[
                    order_data()["lines"][0],
                    {
                        **order_data()["lines"][0],
                        "unit_price": {"amount_minor": 1, "currency": "EUR"},
                    },
                ]
            ),
            "one currency",
        ),
        (
            Order,
            order_data(
                lines=[
                    {**order_data()["lines"][0], "term_duration": "P1M", "billing_cycle": "annual"}
                ]
            ),
            "longer than term",
        ),
        (Invoice, invoice_data(currency="EUR"), "invoice currency"),
        (Invoice, invoice_data(due_at=T0 - timedelta(days=1)), "due_at is before"),
        (
            Invoice,
            invoice_data(lines=[{**invoice_data()["lines"][0], "period_end": T0}]),
            "period_end must be after",
        ),
        (PaymentAttempt, attempt_data(outcome="succeeded"), "carries no failure_code"),
        (PaymentAttempt, attempt_data(amount={"amount_minor": 0, "currency": "USD"}), "positive"),
        (SlaClock, sla_data(at_risk_at=T0 + timedelta(hours=5)), "at_risk_at <= deadline"),
        (SlaClock, sla_data(completed_at=T0 - timedelta(hours=1)), "completed_at is before"),
        (KpiEvent, kpi_data(outcome=None, amount=None, value=None), "carries an outcome"),
    ],
)
def test_inconsistent_records_are_refused(model, data, message):
    with pytest.raises(ValueError, match=message):
        model.model_validate(data)


def test_successful_attempt_carries_no_failure():
    ok = PaymentAttempt.model_validate(
        attempt_data(outcome="succeeded", failure_code=None, decline_code=None)
    )
    assert ok.outcome == "succeeded"
