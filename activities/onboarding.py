"""Onboarding's activities (workflows/onboarding.py): one side effect each.

- `reserve_order`: the customer (a new one) and the order in the book, first thing (beside
  the first writes to Partner Center and Stripe, from version 1.1).
- `check_domain`: whether Partner Center still has the initial domain free (a read).
- `create_partner_center_customer`: the customer tenant, once per step key (MS-RequestId)
  (an instance from before version 1.1 also records its id in the book here).
- `attest_customer_agreement`: the Microsoft Customer Agreement attested by the customer's
  primary contact, dated; once (an attestation already there is the answer).
- `link_stripe_customer`: the Stripe customer and the Partner Center tenant recorded on the
  book's customer, in one write.
- `buy_lines`: the NCE lines put in one cart and checked out, each write with its
  MS-RequestId, so a lost checkout answer retried is replayed, not bought again; from
  version 1.2 it also reads the orders' provisioning once, right after the checkout.
- `read_provisioning`: how far Partner Center is with provisioning the orders (a read).
- `record_order_subscriptions`: the orders' subscriptions added to the book, with the first
  invoice's charge of each (the book's `Charges`, for the reconciliation) and its sell price.
- `set_order_status`: the order's status in the book (and on the customer's timeline).
- `cancel_bought`: what was bought cancelled inside Microsoft's cancellation window (a
  compensation). Cancelling belongs with the subscription writes of licence changes; this
  one is the onboarding's own until those are shared.
- `record_time_to_value`: the `time_to_value` KPI event, once.
- `raise_order_alert`: an operator alert for what cannot be undone, once per order.

Stripe's side (customer, card, the first invoice, refunds) is `activities/payments.py`;
notices are `activities/notifications.py`; the SLA clock `activities/sla_clocks.py`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from uuid import UUID

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.book import Book
from shared.book.errors import RecordExists
from shared.book.partner_center import adopt_partner_center_subscriptions
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import (
    BusinessCalendar,
    Customer,
    DomainModel,
    KpiEvent,
    Money,
    Order,
    Subscription,
    SubscriptionRecord,
)
from shared.models.intake import OpsAlert
from shared.models.onboarding import Onboarding, PricedLine
from shared.models.order import OrderStatus
from shared.partner_center import PartnerCenterClient
from shared.partner_center.errors import PartnerCenterError
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.policy.charges import order_charges

bp = df.Blueprint()
log = logging.getLogger("cspflow.activities.onboarding")


def _book(settings: Settings) -> Book:
    return per_settings("book", settings, lambda s: Book(s, clock=app_clock(s)))


def _partner_center(settings: Settings) -> PartnerCenterClient:
    return per_settings("partner_center", settings, PartnerCenterClient.from_settings)


class OrderNotReservable(PermanentError):
    """The order cannot be recorded as given (its id holds another order, the customer id
    another customer)."""

    code = "order_conflict"


# inputs and outputs ------------------------------------------------------------------------
class ReserveOrder(WriteInput):
    order: Onboarding


class Reserved(DomainModel):
    customer_id: str
    status: OrderStatus


class CheckDomain(DomainModel):
    domain: str = Field(min_length=3, max_length=253)


class DomainChecked(DomainModel):
    domain: str
    available: bool


class CreateTenant(WriteInput):
    order: Onboarding
    # Instances from version 1.1 record the tenant with the Stripe link (`LinkStripe`), one
    # write after the create instead of two racing for the same customer record.
    record: bool = True


class TenantCreated(DomainModel):
    tenant_id: str
    domain: str


class AttestAgreement(WriteInput):
    tenant_id: str = Field(min_length=1, max_length=64)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=320)
    date_agreed: datetime


class Attested(DomainModel):
    tenant_id: str
    date_agreed: datetime
    already: bool


class LinkStripe(WriteInput):
    customer_id: str
    stripe_customer_id: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9]+$")
    tenant_id: str | None = Field(default=None, min_length=1, max_length=64)


class Linked(DomainModel):
    customer_id: str
    stripe_customer_id: str | None
    tenant_id: str | None = None


class Provisioning(DomainModel):
    done: bool
    pending: int
    subscription_ids: tuple[str, ...]


class BuyLines(WriteInput):
    order: Onboarding
    tenant_id: str
    # Read the orders' provisioning once, right after the checkout (as `read_provisioning`).
    read_provisioning: bool = False


class Bought(DomainModel):
    cart_id: str
    partner_center_order_ids: tuple[str, ...]
    subscription_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    # The read asked for; None when not asked, or when Partner Center could not answer it
    # (the workflow then polls on its timers, as it would have).
    provisioning: Provisioning | None = None


class ReadProvisioning(DomainModel):
    tenant_id: str
    partner_center_order_ids: tuple[str, ...] = Field(min_length=1)


class RecordSubscriptions(WriteInput):
    customer_id: str
    tenant_id: str
    partner_center_order_ids: tuple[str, ...] = Field(min_length=1)
    # The first invoice's charges, recorded per subscription for the reconciliation: the
    # order, its priced lines, the Stripe invoice that charged them and when.
    order_id: str | None = None
    lines: tuple[PricedLine, ...] = ()
    stripe_invoice_id: str | None = None
    charged_at: datetime | None = None


class SubscriptionsRecorded(DomainModel):
    subscription_ids: tuple[str, ...]
    added: int


class SetOrderStatus(WriteInput):
    order_id: str
    status: OrderStatus
    partner_center_order_id: str | None = None


class StatusSet(DomainModel):
    order_id: str
    status: OrderStatus


class CancelBought(WriteInput):
    tenant_id: str
    subscription_ids: tuple[str, ...] = Field(min_length=1)


class Cancelled(DomainModel):
    cancelled: tuple[str, ...]
    refused: tuple[str, ...] = ()


class RecordTimeToValue(WriteInput):
    customer_id: str
    order_id: str
    received_at: datetime
    usable_at: datetime
    lines: int = Field(ge=1)


class KpiRecorded(DomainModel):
    recorded: bool


class RaiseOrderAlert(WriteInput):
    order_id: str
    at: datetime
    summary: str = Field(min_length=1, max_length=1000)


class AlertRaised(DomainModel):
    alert_id: str
    raised: bool


# activities --------------------------------------------------------------------------------
@activity(bp)
def reserve_order(request: ReserveOrder, ctx: ActivityContext) -> Reserved:
    """The order in the book (and, for a new customer, the customer, without its tenant yet).
    A retry finds both already there and changes nothing.

    Each record is inserted first and read only when the insert finds it taken (a retry, or
    the customer already updated by a later step): on the first run, which is every order's,
    that is two reads fewer on the order's critical path."""
    book, order = _book(ctx.settings), request.order
    new = order.new_customer

    def ensure_customer() -> None:
        if new is None:
            return
        terms = new.payment_terms
        with contextlib.suppress(RecordExists):  # there already: a retry of this step
            book.customers.ensure(
                Customer(
                    id=order.customer_id,
                    partner_id=ctx.settings.partner_center_tenant_id or "partner",
                    company_name=new.company_name,
                    domain=new.domain,
                    contacts=new.contacts,
                    billing_currency=new.billing_currency,
                    payment_terms=terms,
                    sla_tier=new.sla_tier,
                    calendar=_calendar(new.country),
                    country=new.country,
                )
            )

    def place() -> Order:
        placed = Order(
            id=order.order_id,
            customer_id=order.customer_id,
            created_at=order.received_at,
            lines=tuple(p.line for p in order.lines),
        )
        try:
            return book.orders.place(placed).record
        except RecordExists:  # placed before and changed since (its status moved on)
            return book.orders.get(order.order_id).record

    # The two records do not depend on each other: written at once, the step costs the
    # slower of the two writes (each an index row or two, the record, a timeline entry).
    with ThreadPoolExecutor(2, thread_name_prefix="reserve") as writes:
        customer_written = writes.submit(ensure_customer)
        stored = writes.submit(place).result()
        customer_written.result()
    if stored.customer_id != order.customer_id:
        raise OrderNotReservable(f"order {order.order_id} is another customer's")
    return Reserved(customer_id=order.customer_id, status=stored.status)


@activity(bp)
def check_domain(request: CheckDomain, ctx: ActivityContext) -> DomainChecked:
    """HEAD /v1/domains/{domain} (https://learn.microsoft.com/en-us/partner-center/developer/verify-domain-availability)."""
    available = _partner_center(ctx.settings).domain_available(request.domain)
    return DomainChecked(domain=request.domain, available=available)


@activity(bp)
def create_partner_center_customer(request: CreateTenant, ctx: ActivityContext) -> TenantCreated:
    """The customer's tenant (https://learn.microsoft.com/en-us/partner-center/developer/create-a-customer),
    its id recorded on the book's customer. A taken domain is a permanent
    `domain_unavailable`; the admin's one-time password is not kept anywhere."""
    order = request.order
    new = order.new_customer
    if new is None:
        raise OrderNotReservable("only a new customer gets a tenant")
    primary = new.primary
    first, _, last = primary.name.partition(" ")
    created = _partner_center(ctx.settings).create_customer(
        NewCustomer(
            domain_prefix=new.domain_prefix,
            company_name=new.company_name,
            email=str(primary.email),
            culture=_culture(new.locale, new.country),
            language=new.locale[:2],
            address=Address(
                first_name=first,
                last_name=last or first,
                address_line1=new.address.address_line1,
                city=new.address.city,
                state=new.address.state,
                postal_code=new.address.postal_code,
                country=new.country,
                phone_number=primary.phone or "",
            ),
        ),
        request_id=ctx.request_id("customer.create"),
    )
    tenant_id = created.customer.id
    if request.record:
        _book(ctx.settings).customers.update(order.customer_id, _with_tenant(tenant_id))
    return TenantCreated(tenant_id=tenant_id, domain=created.customer.domain)


@activity(bp)
def attest_customer_agreement(request: AttestAgreement, ctx: ActivityContext) -> Attested:
    """The MCA attested by the customer's contact on `date_agreed`
    (https://learn.microsoft.com/en-us/partner-center/developer/confirm-customer-consent-customer-agreement)."""
    pc = _partner_center(ctx.settings)
    existing = pc.mca_attestations(request.tenant_id)
    if existing:
        return Attested(
            tenant_id=request.tenant_id, date_agreed=existing[0].date_agreed, already=True
        )
    agreement = pc.attest_mca(
        request.tenant_id,
        AgreementContact(
            first_name=request.first_name, last_name=request.last_name, email=request.email
        ),
        request.date_agreed,
        request_id=ctx.request_id("agreement.create"),
    )
    return Attested(tenant_id=request.tenant_id, date_agreed=agreement.date_agreed, already=False)


@activity(bp)
def link_stripe_customer(request: LinkStripe, ctx: ActivityContext) -> Linked:
    """The Stripe customer and the tenant (each when given) on the book's customer, in one
    write; a tenant already recorded is kept."""
    stripe_id, tenant_id = request.stripe_customer_id, request.tenant_id

    def change(customer: Customer) -> Customer:
        if tenant_id is not None:
            customer = _with_tenant(tenant_id)(customer)
        if stripe_id is not None and customer.stripe_customer_id != stripe_id:
            customer = customer.model_copy(update={"stripe_customer_id": stripe_id})
        return customer

    _book(ctx.settings).customers.update(request.customer_id, change)
    return Linked(
        customer_id=request.customer_id, stripe_customer_id=stripe_id, tenant_id=tenant_id
    )


@activity(bp)
def buy_lines(request: BuyLines, ctx: ActivityContext) -> Bought:
    """One cart of the order's lines, checked out
    (https://learn.microsoft.com/en-us/partner-center/developer/create-an-order-for-a-customer).
    Each write carries its MS-RequestId: a retry after a lost answer gets Partner Center's
    first answer again (the same cart, the same orders), never a second purchase."""
    pc = _partner_center(ctx.settings)
    cart = pc.create_cart(
        request.tenant_id,
        [
            CartLine(
                catalog_item_id=p.line.catalog_item_id,
                quantity=p.line.quantity,
                term_duration=p.line.term_duration,
                billing_cycle=p.line.billing_cycle,
                custom_term_end_date=p.line.custom_term_end_date,
            )
            for p in request.order.lines
        ],
        request_id=ctx.request_id("cart.create"),
    )
    result = pc.checkout(request.tenant_id, cart.id, request_id=ctx.request_id("cart.checkout"))
    orders = tuple(o.id for o in result.orders)
    provisioning: Provisioning | None = None
    if request.read_provisioning and orders:
        try:
            provisioning = _provisioning(pc, request.tenant_id, orders)
        except PartnerCenterError as exc:
            # The purchase stands: a read that fails must not fail the step (its retry would
            # repeat the cart and the checkout calls); the workflow's poll reads again.
            log.warning("provisioning of %s not read after checkout: %s", orders, exc)
    return Bought(
        cart_id=cart.id,
        partner_center_order_ids=orders,
        subscription_ids=tuple(
            li.subscription_id for o in result.orders for li in o.line_items if li.subscription_id
        ),
        errors=tuple(f"{e.code}: {e.description}" for e in result.order_errors),
        provisioning=provisioning,
    )


@activity(bp)
def read_provisioning(request: ReadProvisioning, ctx: ActivityContext) -> Provisioning:
    """Each order's provisioning status (https://learn.microsoft.com/en-us/partner-center/developer/get-order-provisioning-status)."""
    return _provisioning(
        _partner_center(ctx.settings), request.tenant_id, request.partner_center_order_ids
    )


def _provisioning(
    pc: PartnerCenterClient, tenant_id: str, order_ids: tuple[str, ...]
) -> Provisioning:
    pending = 0
    subscriptions: list[str] = []
    for order_id in order_ids:
        for line in pc.order_provisioning_status(tenant_id, order_id):
            if line.status.lower() != "fulfilled":
                pending += 1
            if line.subscription_id:
                subscriptions.append(line.subscription_id)
    return Provisioning(done=pending == 0, pending=pending, subscription_ids=tuple(subscriptions))


@activity(bp)
def record_order_subscriptions(
    request: RecordSubscriptions, ctx: ActivityContext
) -> SubscriptionsRecorded:
    """The orders' subscriptions, as Partner Center has them now, added to the book (a
    retry adds none twice)."""
    pc, book = _partner_center(ctx.settings), _book(ctx.settings)
    reads = [
        s
        for order_id in request.partner_center_order_ids
        for s in pc.list_subscriptions(request.tenant_id, order_id)
    ]
    have = {r.id for r in _subscriptions_of(book, request.customer_id)}
    outcomes = adopt_partner_center_subscriptions(
        book, request.customer_id, [s for s in reads if s.id not in have]
    )
    _record_charges(book, request, reads)
    return SubscriptionsRecorded(
        subscription_ids=tuple(s.id for s in reads),
        added=sum(1 for o in outcomes if o.created),
    )


def _record_charges(book: Book, request: RecordSubscriptions, reads: list[Subscription]) -> None:
    """The first invoice's charge of each subscription (docs/billing.md, "Reconciliation"),
    and its sell price per seat per billing period on the book's record when it has none."""
    if request.order_id is None or request.charged_at is None:
        return
    for charged, priced in order_charges(
        request.order_id,
        request.customer_id,
        request.lines,
        reads,
        stripe_invoice_id=request.stripe_invoice_id,
        charged_at=request.charged_at,
    ):
        book.charges.record(charged)
        book.subscriptions.update(
            request.customer_id, charged.subscription_id, _priced(priced.line.unit_price)
        )


def _priced(price: Money) -> Callable[[SubscriptionRecord], SubscriptionRecord]:
    def change(record: SubscriptionRecord) -> SubscriptionRecord:
        if record.unit_price is not None:
            return record
        return record.model_copy(update={"unit_price": price})

    return change


@activity(bp)
def set_order_status(request: SetOrderStatus, ctx: ActivityContext) -> StatusSet:
    # One read: `update` reads the order and writes nothing when it is already so.
    _book(ctx.settings).orders.update(
        request.order_id,
        lambda o: (
            o
            if o.status == request.status
            else o.model_copy(
                update={
                    "status": request.status,
                    "partner_center_order_id": request.partner_center_order_id
                    or o.partner_center_order_id,
                }
            )
        ),
    )
    return StatusSet(order_id=request.order_id, status=request.status)


@activity(bp)
def cancel_bought(request: CancelBought, ctx: ActivityContext) -> Cancelled:
    """Cancel each subscription (inside its cancellation window: Microsoft Learn,
    https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription);
    one Partner Center refuses is reported, not retried."""
    pc = _partner_center(ctx.settings)
    cancelled: list[str] = []
    refused: list[str] = []
    for sub_id in request.subscription_ids:
        try:
            pc.cancel(request.tenant_id, sub_id, request_id=ctx.request_id(f"cancel.{sub_id}"))
            cancelled.append(sub_id)
        except PermanentError:
            refused.append(sub_id)
    return Cancelled(cancelled=tuple(cancelled), refused=tuple(refused))


@activity(bp)
def record_time_to_value(request: RecordTimeToValue, ctx: ActivityContext) -> KpiRecorded:
    """Order received to licences usable, once per order."""
    seconds = max(int((request.usable_at - request.received_at).total_seconds()), 0)
    recorded = _book(ctx.settings).kpi_events.record(
        KpiEvent(
            name="time_to_value",
            occurred_at=request.usable_at,
            customer_id=request.customer_id,
            subject_id=request.order_id,
            outcome="provisioned",
            duration_seconds=seconds,
            dimensions={"lines": str(request.lines)},
        )
    )
    return KpiRecorded(recorded=not recorded.already_done)


@activity(bp)
def raise_order_alert(request: RaiseOrderAlert, ctx: ActivityContext) -> AlertRaised:
    alert_id = f"order-{request.order_id}"
    recorded = _book(ctx.settings).alerts.raise_alert(
        OpsAlert(
            id=alert_id,
            at=request.at,
            kind="order_failed",
            summary=request.summary,
            subject_id=request.order_id,
        )
    )
    return AlertRaised(alert_id=alert_id, raised=not recorded.already_done)


# helpers -----------------------------------------------------------------------------------
def _with_tenant(tenant_id: str) -> Callable[[Customer], Customer]:
    """The tenant on the customer, unless it has one already."""

    def change(customer: Customer) -> Customer:
        if customer.tenant_id is not None:
            return customer
        # A UUID, as the model has it (model_copy does not validate what it is given).
        return customer.model_copy(update={"tenant_id": UUID(tenant_id)})

    return change


def _calendar(country: str) -> BusinessCalendar:
    try:
        return BusinessCalendar(country=country)
    except ValueError:
        return BusinessCalendar()


def _culture(locale: str, country: str) -> str:
    return locale if "-" in locale else f"{locale}-{country}"


def _subscriptions_of(book: Book, customer_id: str) -> list[SubscriptionRecord]:
    page = book.subscriptions.of_customer(customer_id)
    found = list(page.items)
    while page.next is not None:
        page = book.subscriptions.of_customer(customer_id, next=page.next)
        found += page.items
    return found
