"""The read side of the partner API: customers, their subscriptions and their timeline
(docs/api.md, "Reading the book").

    GET /api/customers?name=&domain=               customers, paged (filters: prefixes)
    GET /api/customers/{customer_id}               one customer
    GET /api/customers/{customer_id}/subscriptions                    its subscriptions, paged
    GET /api/customers/{customer_id}/subscriptions/{subscription_id}  one, with what to decide
    GET /api/customers/{customer_id}/timeline?since=                  its timeline, paged

Everything is read from the book (shared/book/); nothing waits on Partner Center. A
subscription's answer is computed by shared/policy at the app's `now`: its term, the seats
still removable per seat batch and until when, the renewal decision deadline, the next term,
its prices (this term's, and the next term's from the price list in force), and every option a
person has now with the docs/rules.md rule that decided it (shared/policy/options.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import azure.durable_functions as df
from pydantic import Field, JsonValue

from shared.book import Book
from shared.book.catalogue import STANDARD_PRICE_LIST
from shared.models import (
    Contact,
    Customer,
    DomainModel,
    Money,
    Offer,
    PaymentTerms,
    SubscriptionRecord,
    TimelineEntry,
    UtcDateTime,
)
from shared.models.catalog import BillingCycleName, TermDuration
from shared.models.party import SlaTier
from shared.models.subscription import SubscriptionStatusName
from shared.policy.options import OptionName, Standing, options_now
from shared.policy.pricing import BelowCostError, PriceLevel, sell_price
from shared.policy.renewal import AnswerWindow, NextTerm, Outcome, RenewalContext
from triggers.api import API, Call, Page, Paging
from triggers.reads import book, customer_or_404, now, storage, subscription_or_404

bp = df.Blueprint()

RULES = "docs/rules.md#"
CUSTOMERS_PAGING = Paging(default_limit=50, max_limit=200)
SUBSCRIPTIONS_PAGING = Paging(default_limit=50, max_limit=200)
TIMELINE_PAGING = Paging(default_limit=50, max_limit=200)
TAGS = ("customers",)


# -- customers --------------------------------------------------------------------------------


class CustomerFilter(DomainModel):
    """`name`: the company name starts with it (case and spacing ignored); `domain`: the
    domain starts with it. Both: both hold. Served by the book's CustomerNames index
    (docs/book.md): a word inside a name, or a domain's ending, cannot be asked for."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$"
    )


class CustomerSummary(DomainModel):
    customer_id: str
    company_name: str
    domain: str
    tenant_id: UUID | None
    country: str | None = Field(description="The market it buys from (ISO 3166-1 alpha-2)")
    billing_currency: str


class CustomerDetail(CustomerSummary):
    price_list_id: str = Field(description="The price list it buys from (its own or standard)")
    payment_terms: PaymentTerms
    sla_tier: SlaTier
    time_zone: str
    contacts: list[Contact]
    stripe_customer_id: str | None
    in_dunning: bool = Field(description="An unpaid invoice of its is in the dunning ladder")


def _summary(customer: Customer) -> dict[str, Any]:
    return {
        "customer_id": customer.id,
        "company_name": customer.company_name,
        "domain": customer.domain,
        "tenant_id": customer.tenant_id,
        "country": customer.country,
        "billing_currency": customer.billing_currency,
    }


@API.route(
    bp,
    "GET",
    "customers",
    summary="The partner's customers, paged; filter by the start of a name or domain",
    query=CustomerFilter,
    paged=CUSTOMERS_PAGING,
    responses={200: Page[CustomerSummary]},
    problems=(503,),
    tags=TAGS,
)
def list_customers(call: Call[None]) -> Page[Any]:
    """Without a filter in customer id order; with `name` in name order, with only `domain`
    in domain order."""
    wanted: CustomerFilter = call.query
    with storage():
        customers = book().customers
        if wanted.name or wanted.domain:
            page = customers.named(
                wanted.name, domain=wanted.domain, limit=call.page.limit, next=call.page.after
            )
        else:
            page = customers.page(limit=call.page.limit, next=call.page.after)
    return call.page.page([CustomerSummary(**_summary(c)) for c in page.items], after=page.next)


@API.route(
    bp,
    "GET",
    "customers/{customer_id}",
    summary="One customer",
    responses={200: CustomerDetail},
    problems=(503,),
    tags=TAGS,
)
def get_customer(call: Call[None]) -> CustomerDetail:
    with storage():
        customer = customer_or_404(call.route_values["customer_id"]).record
        in_dunning = book().dunning.customer_in_dunning(customer.id)
    return CustomerDetail(
        **_summary(customer),
        price_list_id=customer.price_list_id or STANDARD_PRICE_LIST,
        payment_terms=customer.payment_terms,
        sla_tier=customer.sla_tier,
        time_zone=customer.calendar.time_zone,
        contacts=list(customer.contacts),
        stripe_customer_id=customer.stripe_customer_id,
        in_dunning=in_dunning,
    )


# -- subscriptions ----------------------------------------------------------------------------


class SubscriptionSummary(DomainModel):
    subscription_id: str
    offer_id: str = Field(description="Partner Center's catalog item id")
    offer_name: str | None
    friendly_name: str | None
    status: SubscriptionStatusName
    quantity: int
    term_duration: TermDuration
    billing_cycle: BillingCycleName
    term_end: UtcDateTime = Field(description="When the term ends (exclusive)")
    auto_renew: bool


def _subscription_summary(record: SubscriptionRecord) -> SubscriptionSummary:
    sub = record.subscription
    return SubscriptionSummary(
        subscription_id=sub.id,
        offer_id=sub.offer_id,
        offer_name=sub.offer_name,
        friendly_name=sub.friendly_name,
        status=sub.status,
        quantity=sub.quantity,
        term_duration=sub.term_duration,
        billing_cycle=sub.billing_cycle,
        term_end=sub.term_end,
        auto_renew=sub.auto_renew_enabled,
    )


@API.route(
    bp,
    "GET",
    "customers/{customer_id}/subscriptions",
    summary="A customer's subscriptions, paged",
    paged=SUBSCRIPTIONS_PAGING,
    responses={200: Page[SubscriptionSummary]},
    problems=(503,),
    tags=TAGS,
)
def list_subscriptions(call: Call[None]) -> Page[Any]:
    """In subscription id order."""
    with storage():
        customer = customer_or_404(call.route_values["customer_id"]).record
        page = book().subscriptions.of_customer(
            customer.id, limit=call.page.limit, next=call.page.after
        )
    items = [_subscription_summary(r) for r in page.items]
    return call.page.page(items, after=page.next)


class TermView(DomainModel):
    duration: TermDuration
    billing_cycle: BillingCycleName
    start: UtcDateTime = Field(description="The purchase or the last renewal")
    end: UtcDateTime = Field(description="Exclusive: Partner Center's commitmentEndDate(Time)")
    commitment_end_date: date = Field(description="The term's last day, as Partner Center says")
    cancellation_window_end: UtcDateTime = Field(
        description="A cancellation with a refund is possible until then (exclusive)"
    )


class SeatWindowView(DomainModel):
    quantity: int = Field(description="Seats of this batch that can still be removed")
    until: UtcDateTime = Field(description="Until then (exclusive), with a prorated refund")


class SeatsView(DomainModel):
    quantity: int
    removable_now: int = Field(description="Seats that can be removed now for a refund")
    windows: list[SeatWindowView] = Field(description="Per seat batch, earliest close first")
    source: Literal["partner_center", "seat_batches", "term"] = Field(
        description="Partner Center's refundableQuantity, cspflow's recorded seat batches, or "
        "the term's own window (docs/rules.md#partner-center-dates-win)"
    )
    rule: str


class NextTermView(DomainModel):
    renews: bool = Field(description="Active with auto-renew on")
    offer_id: str
    term_duration: TermDuration
    billing_cycle: BillingCycleName
    quantity: int
    scheduled: bool = Field(description="From Partner Center's scheduledNextTermInstructions")
    custom_term_end_date: date | None


class RenewalView(DomainModel):
    auto_renew: bool
    decision_deadline: UtcDateTime = Field(
        description="The customer's answer is applied with the full margin until then"
    )
    renewal_lock: UtcDateTime = Field(description="From then renewal settings are locked")
    answer_window: AnswerWindow
    without_answer: Outcome = Field(description="What cspflow does if nobody decides")
    without_answer_reason: str
    next_term: NextTermView
    rule: str


class PriceView(DomainModel):
    this_term: Money | None = Field(
        description="Per seat per billing period, what this term is billed at (null: not "
        "priced yet); a price-list change never changes it"
    )
    next_term: Money | None = Field(
        description="Per seat per billing period, from the price list in force now for the "
        "next term's offer; null when it does not renew or cannot be priced"
    )
    next_term_offer: str = Field(description="Offer key: catalog item:term:billing cycle")
    price_list_id: str
    price_level: PriceLevel | None = Field(description="Which rule of the list gave the price")
    below_cost: bool
    unpriced_reason: str | None
    rule: str


class OptionView(DomainModel):
    action: OptionName
    possible: bool
    until: UtcDateTime | None = Field(description="Possible until then (exclusive)")
    possible_from: UtcDateTime | None = Field(description="Not now: ask again from then")
    effect: Literal["now", "next_term"] | None
    seats: int | None = Field(
        description="remove_seats: at most this many now; reduce_next_term: at most this many"
    )
    targets: list[str] = Field(description="Offer keys an upgrade or downgrade can go to")
    prorated: bool
    drops_scheduled_changes: bool
    rule: str = Field(description="The docs/rules.md rule that decided")
    reason: str


class SubscriptionDetail(DomainModel):
    subscription_id: str
    customer_id: str
    offer_id: str
    offer_name: str | None
    friendly_name: str | None
    status: SubscriptionStatusName
    as_of: UtcDateTime = Field(description="The moment every deadline here was computed at")
    term: TermView
    seats: SeatsView
    renewal: RenewalView
    price: PriceView
    actions: list[OptionView]


def _market_offers(
    the_book: Book, customer: Customer, record: SubscriptionRecord
) -> tuple[Offer | None, list[Offer]]:
    """The subscription's offer in its customer's market, and that offer's family there."""
    sub = record.subscription
    if customer.country is None:
        return None, []
    current = the_book.offers.find(
        customer.country,
        customer.billing_currency,
        sub.offer_id,
        sub.term_duration,
        sub.billing_cycle,
    )
    if current is None:
        return None, []
    family = the_book.offers.of_family(customer.country, customer.billing_currency, current.family)
    return current, family


def _price(
    the_book: Book, customer: Customer, record: SubscriptionRecord, next_term: NextTerm
) -> PriceView:
    list_id = customer.price_list_id or STANDARD_PRICE_LIST
    base: dict[str, Any] = {
        "this_term": record.unit_price,
        "next_term": None,
        "next_term_offer": next_term.offer_key,
        "price_list_id": list_id,
        "price_level": None,
        "below_cost": False,
        "rule": RULES + "price-list-changes",
    }
    currency = customer.billing_currency
    if not next_term.renews:
        return PriceView(**base, unpriced_reason="the subscription does not renew")
    if customer.country is None:
        reason = "the customer's market (country) is not in the book"
        return PriceView(**base, unpriced_reason=reason)
    offer = the_book.offers.find(
        customer.country,
        currency,
        next_term.catalog_item_id,
        next_term.term_duration,
        next_term.billing_cycle,
    )
    if offer is None:
        reason = (
            f"offer {next_term.offer_key} is not in the catalogue of market {customer.country} "
            f"in {currency} (POST /api/ops/catalog-syncs imports it)"
        )
        return PriceView(**base, unpriced_reason=reason)
    price_list = the_book.price_lists.find(list_id, currency)
    if price_list is None:
        reason = f"price list {list_id} has no {currency} version"
        return PriceView(**base, unpriced_reason=reason)
    try:
        quote = sell_price(
            price_list.record,
            cost=offer.unit_cost,
            offer_key=offer.key,
            family=offer.family,
            customer_id=customer.id,
        )
    except BelowCostError as exc:
        return PriceView(**base, unpriced_reason=str(exc))
    base |= {"next_term": quote.price, "price_level": quote.level, "below_cost": quote.below_cost}
    return PriceView(**base, unpriced_reason=None)


def _detail(
    record: SubscriptionRecord, standing: Standing, price: PriceView, as_of: datetime
) -> SubscriptionDetail:
    sub = record.subscription
    windows = standing.seat_windows
    next_term = standing.next_term
    return SubscriptionDetail(
        subscription_id=sub.id,
        customer_id=record.customer_id,
        offer_id=sub.offer_id,
        offer_name=sub.offer_name,
        friendly_name=sub.friendly_name,
        status=sub.status,
        as_of=as_of,
        term=TermView(
            duration=sub.term_duration,
            billing_cycle=sub.billing_cycle,
            start=standing.term_start,
            end=standing.term_end,
            commitment_end_date=sub.commitment_end_date,
            cancellation_window_end=standing.cancellation_window_end,
        ),
        seats=SeatsView(
            quantity=sub.quantity,
            removable_now=standing.refundable_now,
            windows=[SeatWindowView(quantity=w.quantity, until=w.until) for w in windows.windows],
            source=windows.source,
            rule=RULES + "seat-windows",
        ),
        renewal=RenewalView(
            auto_renew=sub.auto_renew_enabled,
            decision_deadline=standing.decision_deadline,
            renewal_lock=standing.renewal_lock,
            answer_window=standing.answer_window,
            without_answer=standing.without_answer.action,
            without_answer_reason=standing.without_answer.reason,
            next_term=NextTermView(
                renews=next_term.renews,
                offer_id=next_term.catalog_item_id,
                term_duration=next_term.term_duration,
                billing_cycle=next_term.billing_cycle,
                quantity=next_term.quantity,
                scheduled=next_term.scheduled,
                custom_term_end_date=next_term.custom_term_end_date,
            ),
            rule=RULES + "decision-deadline",
        ),
        price=price,
        actions=[
            OptionView(
                action=o.name,
                possible=o.possible,
                until=o.until,
                possible_from=o.possible_from,
                effect=o.effect,
                seats=o.seats,
                targets=list(o.targets),
                prorated=o.prorated,
                drops_scheduled_changes=o.drops_scheduled_changes,
                rule=RULES + o.rule,
                reason=o.reason,
            )
            for o in standing.options
        ],
    )


@API.route(
    bp,
    "GET",
    "customers/{customer_id}/subscriptions/{subscription_id}",
    summary="One subscription, with what a person deciding about it needs",
    responses={200: SubscriptionDetail},
    problems=(503,),
    tags=TAGS,
)
def get_subscription(call: Call[None]) -> SubscriptionDetail:
    """Its term, the seats still removable per seat batch and until when, the renewal
    decision deadline, the next term (scheduled changes included), this term's price and the
    next term's from the price list in force, and every action with whether it is possible
    now, until when, and the docs/rules.md rule that decided. Computed at `as_of`."""
    with storage():
        the_book = book()
        customer = customer_or_404(call.route_values["customer_id"]).record
        record = subscription_or_404(customer.id, call.route_values["subscription_id"])
        at = now()
        current, family = _market_offers(the_book, customer, record)
        context = RenewalContext(
            customer_in_dunning=the_book.dunning.customer_in_dunning(customer.id),
            change_requested=bool(the_book.licence_changes.open_for_subscription(record.id)),
        )
        standing = options_now(
            record.subscription,
            at,
            batches=record.seat_batches,
            current=current,
            family=family,
            context=context,
        )
        price = _price(the_book, customer, record, standing.next_term)
    return _detail(record, standing, price, at)


# -- timeline ---------------------------------------------------------------------------------


class TimelineFilter(DomainModel):
    since: UtcDateTime | None = Field(
        default=None, description="Entries from this instant on (RFC 3339, with an offset)"
    )


class FieldChangeView(DomainModel):
    field: str
    before: JsonValue
    after: JsonValue


class TimelineItem(DomainModel):
    entry_id: str
    at: UtcDateTime
    kind: str
    summary: str
    subject_id: str | None
    source: Literal["cspflow", "partner_center", "stripe"]
    changes: list[FieldChangeView]


def _timeline_item(entry: TimelineEntry) -> TimelineItem:
    return TimelineItem(
        entry_id=entry.id,
        at=entry.at,
        kind=entry.kind,
        summary=entry.summary,
        subject_id=entry.subject_id,
        source=entry.source,
        changes=[
            FieldChangeView(field=c.field, before=c.before, after=c.after) for c in entry.changes
        ],
    )


@API.route(
    bp,
    "GET",
    "customers/{customer_id}/timeline",
    summary="A customer's timeline in time order, paged",
    query=TimelineFilter,
    paged=TIMELINE_PAGING,
    responses={200: Page[TimelineItem]},
    problems=(503,),
    tags=TAGS,
)
def get_timeline(call: Call[None]) -> Page[Any]:
    """Every order, licence change, notice, invoice, payment, dunning step, renewal and
    Partner Center correction, oldest first (entries at the same instant in id order)."""
    wanted: TimelineFilter = call.query
    with storage():
        customer = customer_or_404(call.route_values["customer_id"]).record
        page = book().timeline.page(
            customer.id, since=wanted.since, limit=call.page.limit, next=call.page.after
        )
    return call.page.page([_timeline_item(e) for e in page.items], after=page.next)
