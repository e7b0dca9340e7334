"""Records for the book's tests: valid by default, one keyword away from the case a test
needs."""

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.models import (
    Customer,
    DunningCase,
    DunningCaseRecord,
    Invoice,
    KpiEvent,
    LicenceChange,
    Money,
    Notice,
    Order,
    PaymentAttempt,
    ProcessedEvent,
    Renewal,
    SlaClock,
    Subscription,
    SubscriptionRecord,
)
from shared.models.billing import Charge

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
V = TypeVar("V")


def present(value: V | None) -> V:
    """`value`, which the test expects the book to have found."""
    assert value is not None
    return value


BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
TENANT = "4a7e2f5c-93d1-4c1b-8a55-1f0d3c9e2b71"


def eur(minor: int) -> Money:
    return Money(amount_minor=minor, currency="EUR")


def customer(customer_id: str = "c-1", **overrides: Any) -> Customer:
    data = {
        "id": customer_id,
        "partner_id": "p-1",
        "company_name": "Contoso Ltd",
        "domain": f"{customer_id}.onmicrosoft.com",
        "contacts": [{"name": "Ada Admin", "email": "ada@contoso.example"}],
        "billing_currency": "EUR",
    }
    return Customer.model_validate(data | overrides)


def subscription(
    subscription_id: str = "sub-1",
    *,
    term_end: datetime = T0 + timedelta(days=30),
    quantity: int = 5,
    status: str = "active",
    **overrides: Any,
) -> Subscription:
    """A P1Y subscription whose term ends at `term_end` (Partner Center's last second
    before it as commitmentEndDateTime)."""
    last_second = term_end - timedelta(seconds=1)
    data = {
        "id": subscription_id,
        "offerId": BASIC,
        "offerName": "Microsoft 365 Business Basic",
        "quantity": quantity,
        "status": status,
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": (term_end - timedelta(days=365)).isoformat(),
        "commitmentEndDate": last_second.date().isoformat(),
        "commitmentEndDateTime": last_second.isoformat(),
    }
    return Subscription.model_validate(data | overrides)


_OWN_FIELDS = ("unit_price", "stripe_subscription_item_id", "seat_batches")


def subscription_record(
    subscription_id: str = "sub-1", customer_id: str = "c-1", **kwargs: Any
) -> SubscriptionRecord:
    """cspflow's own fields (unit_price, ...) go on the record, the rest to `subscription`."""
    own = {name: kwargs.pop(name) for name in _OWN_FIELDS if name in kwargs}
    return SubscriptionRecord(
        customer_id=customer_id, subscription=subscription(subscription_id, **kwargs), **own
    )


def order(order_id: str = "ord-1", customer_id: str = "c-1", **overrides: Any) -> Order:
    line = {
        "catalog_item_id": BASIC,
        "quantity": 5,
        "term_duration": "P1Y",
        "billing_cycle": "monthly",
        "unit_price": eur(690).model_dump(),
    }
    data = {"id": order_id, "customer_id": customer_id, "created_at": T0, "lines": [line]}
    return Order.model_validate(data | overrides)


def licence_change(change_id: str = "chg-1", **overrides: Any) -> LicenceChange:
    data = {
        "id": change_id,
        "customer_id": "c-1",
        "subscription_id": "sub-1",
        "kind": "quantity",
        "quantity": 8,
        "requested_by": "tania@contoso.example",
        "requested_at": T0,
    }
    return LicenceChange.model_validate(data | overrides)


def invoice(invoice_id: str = "inv-1", customer_id: str = "c-1", **overrides: Any) -> Invoice:
    line = {
        "description": "5 x Microsoft 365 Business Basic",
        "kind": "new",
        "subscription_id": "sub-1",
        "quantity": 5,
        "amount": eur(3450).model_dump(),
        "period_start": T0,
        "period_end": T0 + timedelta(days=31),
    }
    data = {
        "id": invoice_id,
        "customer_id": customer_id,
        "currency": "EUR",
        "lines": [line],
        "status": "open",
        "issued_at": T0,
        "due_at": T0 + timedelta(days=14),
    }
    return Invoice.model_validate(data | overrides)


def failed_attempt(
    invoice_id: str = "inv-1", *, at: datetime = T0, **overrides: Any
) -> PaymentAttempt:
    data = {
        "invoice_id": invoice_id,
        "attempted_at": at,
        "amount": eur(3450).model_dump(),
        "payment_method_id": "pm_card_visa",
        "outcome": "failed",
        "failure_code": "card_declined",
        "decline_code": "insufficient_funds",
    }
    return PaymentAttempt.model_validate(data | overrides)


def dunning_case(
    invoice_id: str = "inv-1", customer_id: str = "c-1", **overrides: Any
) -> DunningCaseRecord:
    case = DunningCase(
        invoice_id=invoice_id,
        opened_at=T0,
        attempts=(failed_attempt(invoice_id),),
        payment_method_id="pm_card_visa",
    )
    return DunningCaseRecord.model_validate(
        {"customer_id": customer_id, "case": case.model_dump()} | overrides
    )


def renewal(subscription_id: str = "sub-1", **overrides: Any) -> Renewal:
    data = {
        "customer_id": "c-1",
        "subscription_id": subscription_id,
        "term_end": T0 + timedelta(days=30),
    }
    return Renewal.model_validate(data | overrides)


def sla_clock(subject_id: str = "ord-1", **overrides: Any) -> SlaClock:
    data = {
        "kind": "onboarding",
        "subject_id": subject_id,
        "customer_id": "c-1",
        "tier": "standard",
        "started_at": T0,
        "at_risk_at": T0 + timedelta(hours=6),
        "deadline": T0 + timedelta(hours=8),
    }
    return SlaClock.model_validate(data | overrides)


def notice(key: str = "renewal-sub-1/remind-60d", **overrides: Any) -> Notice:
    data = {
        "key": key,
        "customer_id": "c-1",
        "kind": "renewal_reminder",
        "to": ["ada@contoso.example"],
        "subject": "Your Microsoft 365 subscription renews in 60 days",
        "sent_at": T0,
        "subject_id": "sub-1",
    }
    return Notice.model_validate(data | overrides)


def kpi_event(subject_id: str = "ord-1", **overrides: Any) -> KpiEvent:
    data = {
        "name": "time_to_value",
        "occurred_at": T0,
        "customer_id": "c-1",
        "subject_id": subject_id,
        "duration_seconds": 3600,
    }
    return KpiEvent.model_validate(data | overrides)


def processed_event(event_id: str = "evt_1", **overrides: Any) -> ProcessedEvent:
    data = {
        "source": "stripe",
        "event_id": event_id,
        "type": "invoice.payment_failed",
        "received_at": T0,
        "processed_at": T0 + timedelta(seconds=2),
    }
    return ProcessedEvent.model_validate(data | overrides)


def charge(charge_id: str = "change-1", customer_id: str = "c-1", **overrides: Any) -> Charge:
    data = {
        "id": charge_id,
        "customer_id": customer_id,
        "subscription_id": "sub-1",
        "kind": "add_quantity",
        "quantity": 2,
        "amount": eur(690).model_dump(),
        "period_start": T0,
        "period_end": T0 + timedelta(days=29),
        "charged_at": T0,
        "source": "licence_change",
        "reference": charge_id,
        "stripe_invoice_id": "in_1",
    }
    return Charge.model_validate(data | overrides)
