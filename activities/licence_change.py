"""The licence change workflow's own activities (workflows/licence_change.py): the book's side
of a change, and the credit of a decrease. Partner Center writes are in
activities/subscriptions.py, charges and refunds in activities/payments.py.

- `next_licence_change`: the subscription's first change still waiting for its turn, in
  arrival order (the book's `OpenLicenceChanges` index), or none (a read).
- `load_licence_change`: the change, its customer and the book's subscription record, and the
  partner's approval thresholds: everything the workflow decides with besides Partner
  Center's fresh read (a read).
- `record_licence_change`: the change's new state in the book (its timeline entry comes with
  it), and, once it is final, the lead-time KPI event; the subscription's mirror updated from
  Partner Center's answer, with the seats added as a new batch; once applied with money
  moved, the charge or credit it made recorded in the book's `Charges` (its id the change's,
  so recording the state again writes the same row) for the reconciliation.
- `find_creditable_invoice`: where a decrease's credit note goes: the customer's latest paid
  invoice that can still carry it (a read; the credit note is activities.payments'
  `credit_invoice`, refunded to the card for a customer charged automatically, left on the
  balance for one on invoice terms).
"""

from __future__ import annotations

from datetime import datetime

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.book import Book
from shared.book.catalogue import STANDARD_PRICE_LIST
from shared.book.partner_center import apply_partner_center_subscription
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import Customer, DomainModel, KpiEvent, Money, Subscription, SubscriptionRecord
from shared.models.licence_change import Approval, ChangeStatus, LicenceChange
from shared.models.subscription import SeatBatch
from shared.notifications import Addressee
from shared.payments import StripePayments
from shared.policy.charges import change_charge
from shared.policy.pricing import BelowCostError, sell_price

bp = df.Blueprint()


class NotInTheBook(PermanentError):
    code = "not_in_the_book"


def _book(settings: Settings) -> Book:
    return per_settings("book", settings, lambda s: Book(s, clock=app_clock(s)))


def _stripe(settings: Settings) -> StripePayments:
    return per_settings("stripe", settings, StripePayments.from_settings)


# models -----------------------------------------------------------------------------------
class QueueRef(DomainModel):
    subscription_id: str = Field(min_length=1, max_length=64)


class NextChange(DomainModel):
    change: LicenceChange | None = None


class ChangeRef(DomainModel):
    change_id: str = Field(min_length=1, max_length=100)


class Thresholds(DomainModel):
    seats_added: int | None
    amount_minor: int | None
    cancellation: bool
    reminder_hours: int
    timeout_hours: int


class ChangeContext(DomainModel):
    """What the workflow decides with besides Partner Center's read."""

    change: LicenceChange
    tenant_id: str
    company_name: str
    currency: str
    stripe_customer_id: str | None
    charge_automatically: bool
    days_until_due: int | None
    contacts: tuple[Addressee, ...]
    unit_price: Money | None
    # An upgrade's target: the partner's sell price per seat per billing period.
    target_unit_price: Money | None = None
    product: str
    seat_batches: tuple[SeatBatch, ...]
    thresholds: Thresholds
    approval_url: str
    # The book's copy of the subscription's seats (what a notice says when Partner Center's
    # read is not at hand).
    quantity: int | None = None


class RecordChange(WriteInput):
    """The change's new state. Fields left None keep what the book has."""

    change_id: str = Field(min_length=1, max_length=100)
    status: ChangeStatus
    at: datetime
    quantity_before: int | None = None
    quantity_after: int | None = None
    effective_at: datetime | None = None
    charge: Money | None = None
    rule: str | None = None
    reason: str | None = Field(default=None, max_length=500)
    approval: Approval | None = None
    invoice_id: str | None = None
    credit_note_id: str | None = None
    refund_id: str | None = None
    new_subscription_id: str | None = None
    # Partner Center's answer after the change: the book's mirror follows it.
    subscription: Subscription | None = None
    seats_added: int = Field(default=0, ge=0)
    # A full upgrade: the subscription's sell price from now on (the target offer's).
    unit_price: Money | None = None
    # A partial upgrade: the new subscription the seats moved into, as Partner Center has it
    # once the transition completed, and its sell price (the target offer's).
    new_subscription: Subscription | None = None
    new_unit_price: Money | None = None


class Recorded(DomainModel):
    change: LicenceChange


class FindInvoice(DomainModel):
    stripe_customer_id: str = Field(pattern=r"^cus_[A-Za-z0-9]+$")
    amount: Money


class CreditableInvoice(DomainModel):
    invoice_id: str | None = None


# activities -------------------------------------------------------------------------------
@activity(bp)
def next_licence_change(ref: QueueRef, ctx: ActivityContext) -> NextChange:
    """The subscription's first change in arrival order still waiting for its turn."""
    return NextChange(change=_book(ctx.settings).licence_changes.next_received(ref.subscription_id))


@activity(bp)
def load_licence_change(ref: ChangeRef, ctx: ActivityContext) -> ChangeContext:
    book = _book(ctx.settings)
    stored = book.licence_changes.find(ref.change_id)
    if stored is None:
        raise NotInTheBook(f"no licence change {ref.change_id}")
    change = stored.record
    found = book.customers.find(change.customer_id)
    if found is None or found.record.tenant_id is None:
        raise NotInTheBook(f"customer {change.customer_id} has no Partner Center tenant")
    customer = found.record
    record = book.subscriptions.find(change.customer_id, change.subscription_id)
    if record is None:
        raise NotInTheBook(f"no subscription {change.subscription_id} of {change.customer_id}")
    sub = record.record
    s = ctx.settings
    return ChangeContext(
        change=change,
        tenant_id=str(customer.tenant_id),
        company_name=customer.company_name,
        currency=customer.billing_currency,
        stripe_customer_id=customer.stripe_customer_id,
        charge_automatically=customer.payment_terms.collection == "charge_automatically",
        days_until_due=(
            None
            if customer.payment_terms.collection == "charge_automatically"
            else customer.payment_terms.net_days
        ),
        contacts=tuple(
            Addressee(
                name=c.name,
                email=c.email,
                role=c.role,
                time_zone=customer.calendar.time_zone,
            )
            for c in customer.contacts
        ),
        unit_price=sub.unit_price,
        quantity=sub.subscription.quantity,
        product=sub.subscription.offer_name
        or sub.subscription.friendly_name
        or sub.subscription.offer_id,
        seat_batches=sub.seat_batches,
        thresholds=Thresholds(
            seats_added=s.licence_change_approval_seats or None,
            amount_minor=s.licence_change_approval_amount_minor or None,
            cancellation=s.licence_change_approval_cancellation,
            reminder_hours=s.licence_change_approval_reminder_hours,
            timeout_hours=s.licence_change_approval_timeout_hours,
        ),
        approval_url=str(s.licence_change_approval_url),
        target_unit_price=_target_price(book, customer, sub, change),
    )


_KEEP = (
    "quantity_before",
    "quantity_after",
    "effective_at",
    "charge",
    "rule",
    "reason",
    "approval",
    "invoice_id",
    "credit_note_id",
    "refund_id",
    "new_subscription_id",
)


@activity(bp)
def record_licence_change(request: RecordChange, ctx: ActivityContext) -> Recorded:
    """The change's new state in the book (an update that finds it already there writes
    nothing new); the KPI event once final; the subscription's mirror after Partner Center's
    answer."""
    book = _book(ctx.settings)

    def change(old: LicenceChange) -> LicenceChange:
        update: dict[str, object] = {"status": request.status}
        for name in _KEEP:
            value = getattr(request, name)
            if value is not None:
                update[name] = value
        if request.status != "received" and old.decided_at is None:
            update["decided_at"] = request.at
        new = old.model_copy(update=update)
        if new.is_final and old.completed_at is None:
            new = new.model_copy(update={"completed_at": request.at})
        return LicenceChange.model_validate(new.model_dump())

    stored = book.licence_changes.get(request.change_id).record
    customer_id = stored.customer_id
    # The money it moved, for the reconciliation (docs/billing.md, "Reconciliation"): before
    # the change reads as applied, so whoever sees it applied finds its charge.
    applied = change(stored)
    if applied.status == "applied" and applied.charge is not None:
        sub = book.subscriptions.find(customer_id, applied.subscription_id)
        charged = change_charge(applied, sub.record.term_end if sub is not None else None)
        if charged is not None:
            book.charges.record(charged)
    # The mirror first: a change read as final has its subscription recorded already.
    if request.subscription is not None:
        apply_partner_center_subscription(book, customer_id, request.subscription)
        if request.unit_price is not None:
            price = request.unit_price
            book.subscriptions.update(
                customer_id,
                request.subscription.id,
                lambda r: r.model_copy(update={"unit_price": price}),
            )
        if request.seats_added:
            batch = SeatBatch(quantity=request.seats_added, added_at=request.at)
            book.subscriptions.update(
                customer_id,
                request.subscription.id,
                lambda r: (
                    r
                    if batch in r.seat_batches
                    else r.model_copy(update={"seat_batches": (*r.seat_batches, batch)})
                ),
            )
    if request.new_subscription is not None:
        apply_partner_center_subscription(book, customer_id, request.new_subscription)
        if request.new_unit_price is not None:
            target_price = request.new_unit_price
            book.subscriptions.update(
                customer_id,
                request.new_subscription.id,
                lambda r: r.model_copy(update={"unit_price": target_price}),
            )
    record = book.licence_changes.update(request.change_id, change).record
    if record.is_final and record.completed_at is not None:
        book.kpi_events.record(
            KpiEvent(
                name="licence_change_lead_time",
                occurred_at=record.completed_at,
                customer_id=record.customer_id,
                subject_id=record.id,
                outcome=record.status,
                duration_seconds=max(
                    int((record.completed_at - record.requested_at).total_seconds()), 0
                ),
                amount=record.charge,
                dimensions={"kind": record.kind, "rule": record.rule or ""},
            )
        )
    return Recorded(change=record)


@activity(bp)
def find_creditable_invoice(request: FindInvoice, ctx: ActivityContext) -> CreditableInvoice:
    """The customer's latest paid invoice that can still carry a credit of `amount` (a read:
    the credit note itself is activities.payments.credit_invoice, on the invoice this step
    found, so a retried credit step sends the same request under the same key)."""
    invoice = _stripe(ctx.settings).creditable_invoice(request.stripe_customer_id, request.amount)
    return CreditableInvoice(invoice_id=None if invoice is None else invoice.id)


def _target_price(
    book: Book, customer: Customer, record: SubscriptionRecord, change: LicenceChange
) -> Money | None:
    """An upgrade target's sell price from the customer's price list in force, on the
    subscription's term and billing cycle (docs/rules.md#price-list-changes); None when the
    catalogue or the price list cannot price it (the workflow then refuses to charge)."""
    if change.target_catalog_item_id is None or customer.country is None:
        return None
    sub = record.subscription
    offer = book.offers.find(
        customer.country,
        customer.billing_currency,
        change.target_catalog_item_id,
        sub.term_duration,
        sub.billing_cycle,
    )
    if offer is None:
        return None
    price_list = book.price_lists.find(
        customer.price_list_id or STANDARD_PRICE_LIST, customer.billing_currency
    )
    if price_list is None:
        return None
    try:
        quote = sell_price(
            price_list.record,
            cost=offer.unit_cost,
            offer_key=offer.key,
            family=offer.family,
            customer_id=customer.id,
        )
    except BelowCostError:
        return None
    return quote.price
