"""The routing table: what cspflow does with each event it receives (docs/intake.md has it as
a table). One row per event type; `ROUTES` is the table, `route_of` finds an event's row.

Each row's handler turns an event into its effect in two halves:

1. the book, now: what the event is about is read again from its source of truth (Partner
   Center wins for subscriptions, shared/book/partner_center.py; Stripe for invoices) and
   the book is made to agree, so events arriving late or out of order cannot move the book
   back; facts go on the customer's timeline under ids derived from the event (recorded
   once);
2. the workflows, as `Step`s the consumer (triggers/queues/consumer.py) delivers: start or
   signal an orchestration whose instance id derives from the business key named here. A
   workflow not deployed yet gets the step kept in the book instead (`WorkflowInbox`).

Every handler is idempotent: run twice on the same event, the second run finds the book
already agreeing (nothing written), the timeline entry already there, and produces the same
steps (which the consumer delivers idempotently). That is what lets the consumer act first
and record the event as processed after (the exactly-once argument is in consumer.py).

Handlers raise on what may pass (Partner Center or Stripe unreachable, storage): the queue
retries the message, and after host.json's `maxDequeueCount` it goes to the poison queue.
What cannot change by retrying (a tenant cspflow does not manage, a subscription Partner
Center no longer has) is the outcome, recorded with the event.

Workflow names and instance ids (the workflows are not all deployed yet; these are the ids
they will be started under):

| workflow | instance id |
|---|---|
| `dunning` | `dunning-<invoice id>` (cspflow's id from the Stripe invoice's metadata `cspflow_invoice_id`, else the Stripe invoice id) |
| `reconciliation` | `reconciliation-<Partner Center invoice id>` |
| `renewal` | `renewal-<subscription id>-<term end, YYYYMMDD>` |
| `licence_change` | `licence-change-<change id>` |
| `onboarding` | `order-<order id>` (from metadata `cspflow_order_id`) |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import JsonValue

from shared.book import Book
from shared.book.partner_center import apply_partner_center_subscription
from shared.models.billing import InvoiceStatus
from shared.models.events import EventSource
from shared.models.intake import EventMessage, OpsAlert, WorkflowAction
from shared.models.timeline import TimelineEntry
from shared.partner_center import NotFoundError, PartnerCenterClient
from shared.payments import StripePayments
from shared.payments.errors import PaymentRejected
from shared.payments.events import (
    PAYMENT_EVENT,
    CardUpdateCompleted,
    DisputeCreated,
    InvoiceOverdue,
    InvoicePaid,
    InvoicePaymentFailed,
    PaymentEvent,
    PaymentMethodAttached,
    PaymentMethodUpdated,
    to_domain,
)
from shared.payments.models import Invoice as StripeInvoice

DUNNING = "dunning"
RECONCILIATION = "reconciliation"
RENEWAL = "renewal"
LICENCE_CHANGE = "licence_change"
ONBOARDING = "onboarding"
INVOICE_KEY = "cspflow_invoice_id"  # Stripe metadata naming cspflow's invoice
ORDER_KEY = "cspflow_order_id"  # Stripe metadata naming the order a payment or card is for
CARD_UPDATE_KEY = "cspflow_card_update"  # Stripe metadata: why a card-update link was sent


def dunning_instance(invoice_id: str) -> str:
    return f"dunning-{invoice_id}"


def reconciliation_instance(invoice_id: str) -> str:
    return f"reconciliation-{invoice_id}"


def renewal_instance(subscription_id: str, term_end: datetime) -> str:
    return f"renewal-{subscription_id}-{term_end:%Y%m%d}"


def licence_change_instance(change_id: str) -> str:
    return f"licence-change-{change_id}"


def onboarding_instance(order_id: str) -> str:
    return f"order-{order_id}"


@dataclass(frozen=True)
class Step:
    """Start `instance_id` of `workflow`, or signal it `event` (an external event)."""

    workflow: str
    action: WorkflowAction
    instance_id: str
    event: str
    payload: Mapping[str, JsonValue] = field(default_factory=dict)
    customer_id: str | None = None
    # A signal to an instance that may never have been started (a paid invoice's dunning):
    # delivered only to a running instance, or kept only for an instance the inbox already
    # holds events for.
    speculative: bool = False
    # A start that finds the instance running signals it `event` instead (a second
    # `invoice.payment_failed` for an invoice whose dunning case runs).
    or_signal: bool = False


@dataclass(frozen=True)
class Plan:
    """What acting on an event did to the book (`outcome`, for the record) and asks of the
    workflows (`steps`)."""

    outcome: str
    steps: tuple[Step, ...] = ()


@dataclass
class Context:
    """What handlers act with: the book and the sources of truth (made on first use)."""

    book: Book
    partner_center_factory: Callable[[], PartnerCenterClient]
    stripe_factory: Callable[[], StripePayments]

    @cached_property
    def partner_center(self) -> PartnerCenterClient:
        return self.partner_center_factory()

    @cached_property
    def stripe(self) -> StripePayments:
        return self.stripe_factory()

    def now(self) -> datetime:
        return self.book.clock.now()


Handler = Callable[[EventMessage, Context], Plan]


@dataclass(frozen=True)
class Row:
    """One row of the routing table: the events it covers, what the book gets, what the
    workflows get, and the handler that does it."""

    source: EventSource
    events: tuple[str, ...]
    book: str
    workflows: str
    handler: Handler


# -- Partner Center ------------------------------------------------------------------------


def _parts(resource: str) -> list[str]:
    return [p for p in resource.split("/") if p]


def subscription_updated(message: EventMessage, ctx: Context) -> Plan:
    notice = message.partner_center
    assert notice is not None
    parts = _parts(notice.resource)
    if len(parts) != 4 or parts[0] != "customers" or parts[2] != "subscriptions":
        return Plan(f"not a subscription: {notice.resource}")
    tenant, subscription_id = parts[1], parts[3]
    customer = ctx.book.customers.by_tenant(tenant)
    if customer is None:
        return Plan(f"tenant {tenant} is not a customer in the book: nothing to update")
    try:
        read = ctx.partner_center.get_subscription(tenant, subscription_id)
    except NotFoundError:
        return Plan(f"subscription {subscription_id} is not in Partner Center (any more)")
    customer_id = customer.record.id
    synced = apply_partner_center_subscription(ctx.book, customer_id, read)
    if synced.created:
        outcome = f"subscription {read.id} added to the book from Partner Center"
    elif synced.changes:
        fields = ", ".join(change.field for change in synced.changes)
        outcome = f"subscription {read.id} corrected from Partner Center: {fields}"
    else:
        outcome = f"subscription {read.id} already as Partner Center has it"
    payload: dict[str, JsonValue] = {
        "subscription_id": read.id,
        "status": read.status,
        "quantity": read.quantity,
    }
    steps = [
        Step(
            RENEWAL,
            "signal",
            renewal_instance(read.id, renewal.term_end),
            "subscription_updated",
            payload,
            customer_id,
        )
        for renewal in ctx.book.renewals.of_subscription(read.id, limit=1000).items
        if renewal.outcome is None
    ]
    steps += [
        Step(
            LICENCE_CHANGE,
            "signal",
            licence_change_instance(change.id),
            "subscription_updated",
            payload,
            customer_id,
        )
        for change in ctx.book.licence_changes.open_for_subscription(read.id)
    ]
    return Plan(outcome, tuple(steps))


def invoice_ready(message: EventMessage, ctx: Context) -> Plan:
    notice = message.partner_center
    assert notice is not None
    parts = _parts(notice.resource)
    if len(parts) != 2 or parts[0] != "invoices":
        return Plan(f"not an invoice: {notice.resource}")
    # Partner Center's ids are case-insensitive; its invoice ids are upper case (G000...).
    invoice_id = notice.resource_uri.rstrip("/").rsplit("/", 1)[-1]
    return Plan(
        f"Partner Center invoice {invoice_id} ready: reconciliation",
        (
            Step(
                RECONCILIATION,
                "start",
                reconciliation_instance(invoice_id),
                "invoice_ready",
                {"invoice_id": invoice_id},
            ),
        ),
    )


def recorded_only(message: EventMessage, ctx: Context) -> Plan:
    return Plan(f"recorded: cspflow does not act on {message.type}")


# -- Stripe --------------------------------------------------------------------------------


def stripe_event(message: EventMessage, ctx: Context) -> PaymentEvent:
    """The domain event the message carries, or (too big for a queue message) Stripe's."""
    if message.stripe is not None:
        return PAYMENT_EVENT.validate_python(message.stripe)
    return to_domain(ctx.stripe.retrieve_event(message.key))


def _dunning_id(invoice: StripeInvoice) -> str:
    return invoice.metadata.get(INVOICE_KEY) or invoice.id


def _sync_invoice(ctx: Context, invoice: StripeInvoice) -> tuple[str | None, str]:
    """The book's customer of a Stripe invoice, and the invoice's book status made Stripe's
    (re-read: the event's snapshot may be older than what Stripe has now)."""
    customer = ctx.book.customers.by_stripe_customer(invoice.customer_id)
    if customer is None:
        return None, f"Stripe customer {invoice.customer_id} is not in the book"
    customer_id = customer.record.id
    stored = ctx.book.invoices.by_stripe_invoice(customer_id, invoice.id)
    if stored is None:
        return customer_id, f"invoice {invoice.id} is not in the book"
    status: InvoiceStatus = invoice.status
    if stored.record.status == status:  # e.g. the billing run recorded the payment it made
        return customer_id, f"book invoice {stored.record.id} already {status}"
    ctx.book.invoices.update(
        customer_id,
        stored.record.id,
        lambda record: record.model_copy(update={"status": status}),
    )
    return customer_id, f"book invoice {stored.record.id} is {status}"


def _note(
    ctx: Context, customer_id: str | None, message: EventMessage, subject: str, summary: str
) -> None:
    if customer_id is None:
        return
    ctx.book.timeline.append(
        TimelineEntry(
            customer_id=customer_id,
            id=f"stripe:{message.key}",
            at=ctx.now(),
            kind="payment",
            subject_id=subject,
            source="stripe",
            summary=summary[:500],
        )
    )


def _made_for(ctx: Context, stripe_customer_id: str) -> str | None:
    """The id of the book's customer a Stripe customer was made for (cspflow's id in its
    metadata, `PARTNER_CUSTOMER_KEY`), when the book does not name the Stripe customer yet:
    onboarding saves a new customer's card as it makes the Stripe customer, a step before the
    book records the Stripe id, and beside the reserve that puts a new customer in the book
    (docs/onboarding.md), so the customer may not be there yet either: its timeline is keyed
    by the id and shows the entry once it is. None for a customer that names another one."""
    try:
        made_for = ctx.stripe.get_customer(stripe_customer_id).partner_customer_id
    except PaymentRejected:  # no such customer (deleted since): nobody's
        return None
    if not made_for:
        return None
    stored = ctx.book.customers.find(made_for)
    if stored is not None and stored.record.stripe_customer_id not in (None, stripe_customer_id):
        return None
    return made_for


def payment_failed(message: EventMessage, ctx: Context) -> Plan:
    event = stripe_event(message, ctx)
    assert isinstance(event, InvoicePaymentFailed)
    invoice = ctx.stripe.get_invoice(event.invoice.id)
    customer_id, book = _sync_invoice(ctx, invoice)
    _note(ctx, customer_id, message, invoice.id, f"payment of invoice {invoice.id} failed")
    if invoice.status != "open":  # paid (or voided) since: nothing to dun
        return Plan(f"{book}; invoice {invoice.id} is {invoice.status} now: no dunning")
    start = Step(
        DUNNING,
        "start",
        dunning_instance(_dunning_id(invoice)),
        "payment_failed",
        {
            "stripe_invoice_id": invoice.id,
            "invoice_id": invoice.metadata.get(INVOICE_KEY),
            "stripe_customer_id": invoice.customer_id,
            "amount_due": invoice.amount_due,
            "currency": invoice.currency,
        },
        customer_id,
        or_signal=True,
    )
    return Plan(f"{book}; dunning of invoice {invoice.id}", (start,))


def invoice_overdue(message: EventMessage, ctx: Context) -> Plan:
    """An invoice on invoice terms past its due date: dunned like a failed payment, without
    a decline and without charging (docs/dunning.md, "Overdue invoices")."""
    event = stripe_event(message, ctx)
    assert isinstance(event, InvoiceOverdue)
    invoice = ctx.stripe.get_invoice(event.invoice.id)
    customer_id, book = _sync_invoice(ctx, invoice)
    _note(ctx, customer_id, message, invoice.id, f"invoice {invoice.id} is overdue")
    if invoice.status != "open":  # paid (or voided) since: nothing to dun
        return Plan(f"{book}; invoice {invoice.id} is {invoice.status} now: no dunning")
    start = Step(
        DUNNING,
        "start",
        dunning_instance(_dunning_id(invoice)),
        "invoice_overdue",
        {
            "stripe_invoice_id": invoice.id,
            "invoice_id": invoice.metadata.get(INVOICE_KEY),
            "stripe_customer_id": invoice.customer_id,
            "amount_due": invoice.amount_due,
            "currency": invoice.currency,
            "overdue": True,
        },
        customer_id,
    )
    return Plan(f"{book}; dunning of overdue invoice {invoice.id}", (start,))


def invoice_paid(message: EventMessage, ctx: Context) -> Plan:
    event = stripe_event(message, ctx)
    assert isinstance(event, InvoicePaid)
    invoice = ctx.stripe.get_invoice(event.invoice.id)
    customer_id, book = _sync_invoice(ctx, invoice)
    if invoice.status != "paid":  # not paid after all (an older event than the state)
        return Plan(f"{book}; invoice {invoice.id} is {invoice.status} now: nothing to signal")
    payload: dict[str, JsonValue] = {"stripe_invoice_id": invoice.id}
    steps = [
        Step(
            DUNNING,
            "signal",
            dunning_instance(_dunning_id(invoice)),
            "invoice_paid",
            payload,
            customer_id,
            speculative=True,
        )
    ]
    if order_id := invoice.metadata.get(ORDER_KEY):
        steps.append(
            Step(
                ONBOARDING,
                "signal",
                onboarding_instance(order_id),
                "invoice_paid",
                payload,
                customer_id,
                speculative=True,
            )
        )
    return Plan(f"{book}; invoice {invoice.id} paid", tuple(steps))


def card_changed(message: EventMessage, ctx: Context) -> Plan:
    event = stripe_event(message, ctx)
    if not isinstance(event, PaymentMethodAttached | PaymentMethodUpdated | CardUpdateCompleted):
        return recorded_only(message, ctx)  # a checkout session in another mode than setup
    metadata = event.metadata if isinstance(event, CardUpdateCompleted) else {}
    if event.customer_id is None:
        return Plan("a card with no customer: nothing to update")
    named = ctx.book.customers.by_stripe_customer(event.customer_id)
    customer_id = named.record.id if named is not None else _made_for(ctx, event.customer_id)
    if customer_id is None:
        return Plan(f"Stripe customer {event.customer_id} is not in the book")
    if isinstance(event, CardUpdateCompleted):
        what, subject = "new card saved through a card update link", event.setup_intent_id
        if metadata.get(CARD_UPDATE_KEY) == "card_expiry":
            # Sent ahead of an expiring card (docs/dunning.md, "Card-expiry pre-dunning"):
            # the new card pays the next invoices, so the old one never fails. Keyed by the
            # event, so a second run replays Stripe's answer.
            ctx.stripe.complete_card_update(f"intake/{message.key}", event.setup_intent_id)
            what += ", now the default for invoices"
    else:
        verb = "saved" if isinstance(event, PaymentMethodAttached) else "updated by the network"
        card = f"{event.brand} ending {event.last4}, expires {event.exp_month:02d}/{event.exp_year}"
        what, subject = f"card {verb}: {card}", event.payment_method_id
    _note(ctx, customer_id, message, subject, what)
    payload: dict[str, JsonValue] = {"stripe_customer_id": event.customer_id}
    # Which card: the dunning case charges it at once (a card-update link's SetupIntent is
    # made the default first).
    if isinstance(event, CardUpdateCompleted):
        payload["setup_intent_id"] = event.setup_intent_id
    else:
        payload["payment_method_id"] = event.payment_method_id
    steps = [
        Step(
            DUNNING,
            "signal",
            dunning_instance(case.invoice_id),
            "card_updated",
            payload,
            customer_id,
        )
        for case in ctx.book.dunning.open_of_customer(customer_id)
    ]
    if order_id := metadata.get(ORDER_KEY):
        steps.append(
            Step(
                ONBOARDING,
                "signal",
                onboarding_instance(order_id),
                "card_updated",
                payload,
                customer_id,
                speculative=True,
            )
        )
    return Plan(f"customer {customer_id}: {what}", tuple(steps))


def dispute_created(message: EventMessage, ctx: Context) -> Plan:
    event = stripe_event(message, ctx)
    assert isinstance(event, DisputeCreated)
    stripe_customer = ctx.stripe.charge_customer(event.charge_id)
    customer = ctx.book.customers.by_stripe_customer(stripe_customer) if stripe_customer else None
    customer_id = customer.record.id if customer else None
    amount = f"{event.amount} {event.currency} (minor units)"
    summary = (
        f"dispute {event.dispute_id} opened on charge {event.charge_id}: {amount}, {event.reason}"
    )
    _note(ctx, customer_id, message, event.dispute_id, summary)
    ctx.book.alerts.raise_alert(
        OpsAlert(
            id=f"dispute:{event.dispute_id}",
            at=ctx.now(),
            kind="dispute",
            summary=f"{summary}; customer {customer_id or stripe_customer or 'unknown'}",
            subject_id=event.dispute_id,
        )
    )
    return Plan(f"ops alert raised: {summary}")


# -- the table -----------------------------------------------------------------------------

ROUTES: tuple[Row, ...] = (
    Row(
        "partner_center",
        ("subscription-updated",),
        "the subscription re-read from Partner Center and applied (Partner Center wins; each "
        "difference on the customer's timeline)",
        "signal `subscription_updated` to the subscription's open renewal and open licence changes",
        subscription_updated,
    ),
    Row(
        "partner_center",
        ("invoice-ready",),
        "nothing (Microsoft's invoice to the partner, not a customer's)",
        "start `reconciliation` for the invoice",
        invoice_ready,
    ),
    Row(
        "stripe",
        ("invoice.payment_failed",),
        "the invoice's status re-read from Stripe; `payment failed` on the timeline",
        "start `dunning` for the invoice, if it is still open; signal `payment_failed` to "
        "the invoice's running dunning",
        payment_failed,
    ),
    Row(
        "stripe",
        ("invoice.overdue",),
        "the invoice's status re-read from Stripe; `overdue` on the timeline",
        "start `dunning` for the invoice (overdue: no automatic charge), if it is still open",
        invoice_overdue,
    ),
    Row(
        "stripe",
        # Not `invoice.payment_succeeded` as well: Stripe sends `invoice.paid` for every
        # payment that settles an invoice, and for one paid out of band
        # (https://docs.stripe.com/api/events/types#event_types-invoice.paid), so acting on
        # both did the same work twice for every paid invoice.
        ("invoice.paid",),
        "the invoice's status re-read from Stripe (paid: on the timeline)",
        "signal `invoice_paid` to the invoice's dunning and to the order's onboarding",
        invoice_paid,
    ),
    Row(
        "stripe",
        ("payment_method.attached", "payment_method.automatically_updated"),
        "`card saved` / `card updated` on the timeline",
        "signal `card_updated` (with the `payment_method_id`) to the customer's open dunning cases",
        card_changed,
    ),
    Row(
        "stripe",
        ("checkout.session.completed",),
        "`new card saved` on the timeline (setup-mode sessions: card update links); a card "
        "saved through a card-expiry link made the invoices' default",
        "signal `card_updated` (with the `setup_intent_id`) to the customer's open dunning cases "
        "and the order's onboarding",
        card_changed,
    ),
    Row(
        "stripe",
        ("charge.dispute.created",),
        "the dispute on the customer's timeline; an ops alert",
        "none",
        dispute_created,
    ),
)
NOT_ACTED = {
    source: Row(
        source,
        ("*",),
        "nothing: the event is recorded as processed",
        "none",
        recorded_only,
    )
    for source in ("partner_center", "stripe")
}
_BY_TYPE: dict[tuple[str, str], Row] = {
    (row.source, event): row for row in ROUTES for event in row.events
}


def acted_on(source: str) -> tuple[str, ...]:
    """The event types of `source` that cspflow acts on, sorted: what its Stripe webhook
    endpoint is registered for (`enabled_events`, docs/intake.md)."""
    return tuple(sorted(event for (s, event) in _BY_TYPE if s == source))


def route_of(message: EventMessage) -> Row:
    """The row for the message's event (the not-acted-on row of its source when none)."""
    return _BY_TYPE.get((message.source, message.type)) or NOT_ACTED[message.source]


def table() -> list[dict[str, Any]]:
    """The routing table as rows of text (docs/intake.md shows it; a test keeps them equal)."""
    rows: list[Row] = [*ROUTES, *NOT_ACTED.values()]
    return [
        {
            "source": row.source,
            "events": row.events,
            "book": row.book,
            "workflows": row.workflows,
        }
        for row in rows
    ]
