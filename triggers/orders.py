"""Storefront orders (docs/onboarding.md, docs/api.md#orders).

    POST /api/orders               202: the order accepted, its onboarding started
    GET  /api/orders/{order_id}    the order: status, steps, SLA clock, ids, first invoice

A POST is checked and priced before anything starts (`price_order`): the customer (new: its
domain free in the book and in Partner Center; existing: in the book with a tenant and a
Stripe customer), each line's offer in the customer's market and currency with that term and
billing cycle, its sell price from the price list in force, a custom term end date Microsoft
allows; every refusal is a 422 naming the field. Prices come from the book, never from the
request. The onboarding runs as instance `order-<order id>`; the command ledger answers a
repeat of the same order as the first time and another body under the same id 409.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from shared.book import Book, Stored, every
from shared.book.catalogue import STANDARD_PRICE_LIST
from shared.config import Settings, get_settings
from shared.errors import TransientError
from shared.models import Customer, DomainModel, Offer, OrderLine
from shared.models.onboarding import (
    Onboarding,
    OrderAccepted,
    OrderLineRequest,
    OrderProgress,
    OrderView,
    PlaceOrder,
    PricedLine,
    SlaView,
)
from shared.models.pricing import PriceList
from shared.notifications.locales import language_of, supported_locale
from shared.notifications.render import Brand, environment, translations
from shared.policy.onboarding import coterm_refusal, first_charge
from shared.policy.pricing import BelowCostError, offer_sell_price
from shared.policy.sla import sla_state
from triggers.api import API, Call, NotFound, Refused, Reply
from triggers.reads import book, now, partner_center, storage, valid_id
from workflows.onboarding import ORCHESTRATOR, instance_id

log = logging.getLogger("cspflow.triggers.orders")
bp = df.Blueprint()

_ORDER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
POLL_AFTER_S = 10
DomainCheck = Callable[[str], bool | None]
# Reads of one order at once: well under the storage SDK's pool of 10 connections.
_READS_AT_ONCE = 6


def partner_center_domain_free(domain: str) -> bool | None:
    """Whether Partner Center has the domain free; None when it cannot say now (the workflow
    checks again before creating the customer)."""
    try:
        return partner_center().domain_available(domain)
    except TransientError as exc:
        log.warning("domain check of %s deferred to the workflow: %s", domain, exc)
        return None


def price_order(
    the_book: Book, body: PlaceOrder, at: datetime, domain_free: DomainCheck
) -> Onboarding:
    """The workflow's input: the order checked and priced by the book, or the 422 (`Refused`)
    naming the first field at fault.

    The reads do not depend on each other once the country and currency are known (from the
    request for a new customer, from the book for an existing one), so they run together:
    an order's answer costs the slowest read, not their sum. The refusals are still decided
    in the order below, whichever read finishes first."""
    with ThreadPoolExecutor(_READS_AT_ONCE, thread_name_prefix="price-order") as reads:
        return _price_order(the_book, body, at, domain_free, reads)


def _price_order(
    the_book: Book,
    body: PlaceOrder,
    at: datetime,
    domain_free: DomainCheck,
    reads: ThreadPoolExecutor,
) -> Onboarding:
    if body.customer is not None:
        new = body.customer
        customer_id = new.domain_prefix
        try:
            supported_locale(new.locale)
        except ValueError as exc:
            raise Refused("unknown_locale", str(exc), field="customer.locale") from None
        country, currency, list_id = new.country, new.billing_currency, STANDARD_PRICE_LIST
        taken = reads.submit(the_book.customers.find, customer_id)
        free = reads.submit(domain_free, new.domain)
        priced_by = _pricing_reads(the_book, reads, body, list_id, country, currency)
        if taken.result() is not None or free.result() is False:
            raise Refused(
                "domain_taken",
                f"the domain {new.domain} is taken: choose another initial domain",
                field="customer.domain",
            )
        currency_field = "customer.billing_currency"
        domain_free_at = at if free.result() is True else None
        ends: list[date] = []
        existing: Customer | None = None
        company_name, contacts, terms, locale = (
            new.company_name, new.contacts, new.payment_terms, new.locale
        )  # fmt: skip
    else:
        assert body.customer_id is not None  # PlaceOrder's validator
        stored = the_book.customers.find(body.customer_id)
        if stored is None:
            raise Refused(
                "unknown_customer",
                f"there is no customer {body.customer_id!r}",
                field="customer_id",
            )
        existing = stored.record
        if existing.tenant_id is None or existing.stripe_customer_id is None:
            raise Refused(
                "not_onboarded",
                f"customer {existing.id} has no Partner Center tenant or Stripe customer yet",
                field="customer_id",
            )
        customer_id = existing.id
        country = existing.country or existing.calendar.country
        currency = existing.billing_currency
        list_id = existing.price_list_id or STANDARD_PRICE_LIST
        priced_by = _pricing_reads(the_book, reads, body, list_id, country, currency)
        currency_field = "customer_id"
        domain_free_at = None
        company_name, contacts, terms, locale = (
            existing.company_name, existing.contacts, existing.payment_terms, "en"
        )  # fmt: skip
        ends = [
            r.subscription.commitment_end_date
            for r in _all_subscriptions(the_book, existing.id)
            if r.subscription.status == "active"
        ]
    price_list = priced_by.price_list.result()
    if price_list is None:
        raise Refused(
            "no_price_list",
            f"price list {list_id} has no {currency} version",
            field=currency_field,
        )
    start = at.date()
    lines = tuple(
        _priced(the_book, i, line, offer.result(), country, currency, price_list.record,
                customer_id, start, ends, existing is not None)
        for i, (line, offer) in enumerate(zip(body.lines, priced_by.offers, strict=True))
    )  # fmt: skip
    return Onboarding(
        order_id=body.order_id,
        customer_id=customer_id,
        received_at=at,
        currency=currency,
        lines=lines,
        new_customer=body.customer,
        company_name=company_name,
        tenant_id=None if existing is None else str(existing.tenant_id),
        stripe_customer_id=None if existing is None else existing.stripe_customer_id,
        contacts=contacts,
        locale=locale,
        net_days=terms.net_days if terms.collection == "send_invoice" else None,
        domain_free_at=domain_free_at,
    )


@dataclass(frozen=True)
class _PricingReads:
    price_list: Future[Stored[PriceList] | None]
    offers: list[Future[Offer | None]]


def _pricing_reads(
    the_book: Book,
    reads: ThreadPoolExecutor,
    body: PlaceOrder,
    list_id: str,
    country: str,
    currency: str,
) -> _PricingReads:
    """The price list and every line's offer, read at once."""
    return _PricingReads(
        price_list=reads.submit(the_book.price_lists.find, list_id, currency),
        offers=[
            reads.submit(the_book.offers.find, country, currency, line.catalog_item_id,
                         line.term_duration, line.billing_cycle)
            for line in body.lines
        ],
    )  # fmt: skip


def _priced(
    the_book: Book,
    i: int,
    line: OrderLineRequest,
    offer: Offer | None,
    country: str,
    currency: str,
    price_list: PriceList,
    customer_id: str,
    start: date,
    ends: list[date],
    existing: bool,
) -> PricedLine:
    where = f"lines[{i}]"
    if offer is None:
        raise _unsold(the_book, where, line, country, currency)
    seats = offer.quantity_refusal(line.quantity)
    if seats is not None:  # docs/rules.md#seat-limits
        raise Refused("quantity_not_offered", seats, field=f"{where}.quantity")
    try:
        price = offer_sell_price(price_list, offer, customer_id if existing else None).price
    except BelowCostError as exc:
        raise Refused("below_cost", str(exc), field=f"{where}.catalog_item_id") from None
    if line.custom_term_end_date is not None:
        refusal = coterm_refusal(start, line.term_duration, line.custom_term_end_date, ends)
        if refusal is not None:
            raise Refused(
                "custom_term_end_date_not_allowed", refusal, field=f"{where}.custom_term_end_date"
            )
    charge = first_charge(
        price, line.quantity, line.term_duration, line.billing_cycle, start,
        line.custom_term_end_date,
    )  # fmt: skip
    return PricedLine(
        line=OrderLine(
            catalog_item_id=line.catalog_item_id,
            quantity=line.quantity,
            term_duration=line.term_duration,
            billing_cycle=line.billing_cycle,
            unit_price=price,
            custom_term_end_date=line.custom_term_end_date,
        ),
        name=offer.name,
        first_charge=charge.amount,
        period_start=_midnight(charge.charged.start),
        period_end=_midnight(charge.charged.end),
    )


def _unsold(
    the_book: Book, where: str, line: OrderLineRequest, country: str, currency: str
) -> Refused:
    plans: list[Offer] = the_book.offers.of_catalog_item(country, currency, line.catalog_item_id)
    if not plans:
        return Refused(
            "not_sold",
            f"{line.catalog_item_id} is not sold in {country} in {currency}",
            field=f"{where}.catalog_item_id",
        )
    if not any(p.term_duration == line.term_duration for p in plans):
        terms = sorted({p.term_duration for p in plans})
        return Refused(
            "term_not_offered",
            f"{line.catalog_item_id} is offered on {', '.join(terms)}, not {line.term_duration}",
            field=f"{where}.term_duration",
        )
    cycles = sorted({p.billing_cycle for p in plans if p.term_duration == line.term_duration})
    return Refused(
        "billing_cycle_not_offered",
        f"{line.catalog_item_id} on {line.term_duration} is billed {', '.join(cycles)}, "
        f"not {line.billing_cycle}",
        field=f"{where}.billing_cycle",
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _all_subscriptions(the_book: Book, customer_id: str) -> list[Any]:
    return list(every(lambda cursor: the_book.subscriptions.of_customer(customer_id, next=cursor)))


async def start_onboarding(client: df.DurableOrchestrationClient, order: Onboarding) -> bool:
    """Start the order's onboarding unless its instance exists (a retried POST whose reply
    was lost); whether this call started it."""
    iid = instance_id(order.order_id)
    status = await client.get_status(iid)
    if status is not None and status.runtime_status is not None:
        return False
    try:
        await client.start_new(ORCHESTRATOR, iid, order.model_dump(mode="json"))
    except Exception:
        status = await client.get_status(iid)
        if status is None or status.runtime_status is None:
            raise
        return False
    return True


@API.route(
    bp,
    "POST",
    "orders",
    summary="Place a storefront order: a new customer onboarded, or products added",
    request=PlaceOrder,
    responses={202: OrderAccepted},
    command_id="order_id",
    problems=(409, 422, 503),
    durable_client=True,
    tags=("orders",),
)
async def place_order(call: Call[PlaceOrder], client: df.DurableOrchestrationClient) -> Reply:
    """Checks and prices the order (422 naming the field), then starts its onboarding and
    answers 202 with `Location: /api/orders/{order_id}`. The same order id with the same
    body answers the same; with another body 409."""
    body: PlaceOrder = call.body

    def priced() -> Onboarding:
        with storage():
            return price_order(book(), body, now(), partner_center_domain_free)

    order = await asyncio.to_thread(priced)
    order = order.model_copy(
        update={"card_setup_return_url": card_setup_return_url(get_settings(), order.order_id)}
    )
    await start_onboarding(client, order)
    accepted = OrderAccepted(
        order_id=order.order_id,
        customer_id=order.customer_id,
        status="received",
        first_total=order.first_total,
    )
    return Reply.accepted(
        accepted, location=call.url_for("orders", order.order_id), retry_after_s=POLL_AFTER_S
    )


def order_view(status: Any, the_book: Book, order_id: str, at: datetime) -> OrderView | None:
    """The order as the book and its instance have it; None: no such order."""
    stored = the_book.orders.find(order_id)
    started: Onboarding | None = None
    if status is not None and status.runtime_status is not None and status.input_:
        data = status.input_
        started = (
            Onboarding.model_validate_json(data)
            if isinstance(data, str)
            else Onboarding.model_validate(data)
        )
    if stored is None and started is None:
        return None
    progress = _progress(status)
    clock = the_book.sla_clocks.find("onboarding", order_id)
    record = stored.record if stored is not None else None
    lines = record.lines if record is not None else tuple(p.line for p in started.lines)  # type: ignore[union-attr]
    return OrderView(
        order_id=order_id,
        customer_id=record.customer_id if record is not None else started.customer_id,  # type: ignore[union-attr]
        status=progress.status if progress is not None else record.status,  # type: ignore[union-attr]
        received_at=started.received_at if started is not None else record.created_at,  # type: ignore[union-attr]
        lines=lines,
        steps=progress.steps if progress is not None else (),
        tenant_id=progress.tenant_id if progress is not None else None,
        partner_center_order_ids=progress.partner_center_order_ids if progress else (),
        first_invoice=progress.first_invoice if progress is not None else None,
        sla=None
        if clock is None
        else SlaView(
            state=sla_state(clock.record, at),
            phase=clock.record.phase,
            deadline=clock.record.deadline,
        ),
        reason=progress.reason if progress is not None else None,
    )


def _progress(status: Any) -> OrderProgress | None:
    if status is None or status.runtime_status is None:
        return None
    failed = status.runtime_status in (
        df.OrchestrationRuntimeStatus.Failed,
        df.OrchestrationRuntimeStatus.Terminated,
    )
    completed = status.runtime_status == df.OrchestrationRuntimeStatus.Completed
    source = status.output if completed else status.custom_status
    if isinstance(source, str):
        source = json.loads(source)
    progress = OrderProgress.model_validate(source) if source else OrderProgress(status="received")
    if failed:
        return progress.model_copy(
            update={
                "status": "failed",
                "reason": progress.reason
                or "the onboarding stopped unexpectedly; an operator has the details",
            }
        )
    return progress


@API.route(
    bp,
    "GET",
    "orders/{order_id}",
    summary="An order: its status, steps, SLA clock, Partner Center ids and first invoice",
    responses={200: OrderView},
    problems=(503,),
    durable_client=True,
    tags=("orders",),
)
async def get_order(call: Call[None], client: df.DurableOrchestrationClient) -> OrderView:
    """The order's status (received, awaiting_payment_method, provisioning, provisioned,
    failed, ...), each step done with its time, the onboarding SLA clock, the Partner Center
    tenant and order ids, the first invoice and, when it failed, why."""
    order_id = call.route_values.get("order_id", "")
    if not valid_id(order_id, _ORDER_ID):
        raise NotFound(f"there is no order {order_id[:100]!r}", field="order_id")
    status = await client.get_status(instance_id(order_id), show_input=True)

    def read() -> OrderView | None:
        with storage():
            return order_view(status, book(), order_id, now())

    view = await asyncio.to_thread(read)
    if view is None:
        raise NotFound(f"there is no order {order_id!r}", field="order_id")
    return view


# -- the card-setup link's return page ----------------------------------------------------------


def card_setup_return_url(settings: Settings, order_id: str) -> str:
    """Where the card-setup page sends the customer once the card is saved: the partner's
    storefront page when configured, else cspflow's own page for the order."""
    if settings.onboarding_card_setup_return_url is not None:
        return str(settings.onboarding_card_setup_return_url)
    base = str(settings.public_base_url).rstrip("/")
    return f"{base}/api/orders/{quote(order_id, safe='')}/card-setup/done"


class CardSavedPage(DomainModel):
    """The page after a card was saved through an order's card-setup link."""

    order_id: str
    locale: str
    title: str
    html: str = Field(description="The page as a browser is shown it")


def card_saved_page(settings: Settings, order_id: str, locale: str) -> CardSavedPage:
    """The page in the customer's locale: the card is saved, what happens next."""
    lang = language_of(locale)
    env = environment(lang)
    page = env.get_template("_card_saved_page.html").render(
        order_id=order_id, lang=lang, locale=locale, brand=Brand.from_settings(settings)
    )
    title = translations(lang).gettext("Your card is saved")
    return CardSavedPage(order_id=order_id, locale=locale, title=title, html=page)


@API.route(
    bp,
    "GET",
    "orders/{order_id}/card-setup/done",
    summary="Where the card-setup link returns the customer: the card is saved, what is next",
    responses={200: CardSavedPage},
    problems=(503,),
    auth=func.AuthLevel.ANONYMOUS,
    durable_client=True,
    tags=("orders",),
)
async def card_setup_done(call: Call[None], client: df.DurableOrchestrationClient) -> Reply:
    """HTML for a browser (`Accept: text/html`), JSON otherwise, in the order's locale. It
    shows nothing of the order but its id (the link is not secret: Stripe's page returns
    here), and the same page for an order it does not know, in English."""
    order_id = call.route_values.get("order_id", "")
    if not valid_id(order_id, _ORDER_ID):
        raise NotFound(f"there is no order {order_id[:100]!r}", field="order_id")
    status = await client.get_status(instance_id(order_id), show_input=True)
    locale = "en"
    if status is not None and status.input_:
        data = status.input_
        started = (
            Onboarding.model_validate_json(data)
            if isinstance(data, str)
            else Onboarding.model_validate(data)
        )
        locale = started.locale
    page = card_saved_page(get_settings(), order_id, locale)
    accept = call.req.headers.get("accept", "") or ""
    return Reply(200, page, html=page.html if "text/html" in accept else None)
