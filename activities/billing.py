"""The billing run's activities (workflows/billing_run.py): one side effect each.

- `list_due_customers`: one page of the book's customers billed on a billing day (a read).
- `plan_customer_invoice`: a customer's invoice for a period computed from the book
  (shared/policy/billing.py): its subscriptions, the price list in force, the catalogue's
  costs, the licence changes of the month before (a read; nothing written).
- `issue_invoice`: the planned invoice in Stripe, with the customer's tax rate and the
  reverse-charge note, finalized, then collected by the customer's payment terms (paid
  now, or sent with its due date); recorded in the book's `Invoices`. Exactly once: the
  Stripe invoice is found by its metadata before one is made, every write has a key derived
  from the step, and a decline is an outcome (dunning takes over through Stripe's
  `invoice.payment_failed`), not a failure.
- `record_customer_billed`, `record_billing_run`: what the run did, in the book
  (`BillingRuns`).

Stripe invoice creation, finalization and payment are written here for the billing run's
own invoice (several lines, tax rates, a footer, found by metadata); the one-off charge of a
set of lines (`StripePayments.charge_now`) serves the other workflows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.book import Book
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import DomainModel, Invoice, InvoiceLine, LicenceChange
from shared.models.billing_run import (
    BillingRunReport,
    CustomerBilled,
    InvoicePlan,
    OfferPrice,
    PeriodName,
)
from shared.models.money import Money
from shared.models.party import Customer
from shared.notifications.recipients import Addressee
from shared.payments import StripePayments
from shared.payments.models import IssueLine
from shared.policy.billing import billing_window, offers_to_price, plan_invoice
from shared.policy.pricing import BelowCostError, offer_sell_price
from shared.policy.terms import add_months

bp = df.Blueprint()

PAGE = 1000  # the book's largest page


class ListDueCustomers(DomainModel):
    billing_day: int = Field(ge=1, le=28)
    page_size: int = Field(default=100, ge=1, le=1000)
    after: str | None = None


class DueCustomers(DomainModel):
    customer_ids: tuple[str, ...]
    next: str | None = None


class PlanCustomerInvoice(DomainModel):
    run_id: str = Field(min_length=1, max_length=64)
    period: PeriodName
    customer_id: str = Field(min_length=1, max_length=64)
    partner_country: str = Field(pattern=r"^[A-Z]{2}$")


class PlannedInvoice(DomainModel):
    """The plan, or why there is none: `skip_reason` (the customer cannot be billed),
    `already` (the book holds this period's invoice, issued by an earlier run)."""

    plan: InvoicePlan | None = None
    stripe_customer_id: str | None = None
    skip_reason: str | None = None
    already: CustomerBilled | None = None
    # Who the invoice notice goes to: the customer's name and contacts (the book's).
    customer_name: str = ""
    contacts: tuple[Addressee, ...] = ()


class IssueInvoice(WriteInput):
    run_id: str = Field(min_length=1, max_length=64)
    plan: InvoicePlan
    stripe_customer_id: str = Field(pattern=r"^cus_[A-Za-z0-9]+$")


class RecordCustomerBilled(WriteInput):
    billed: CustomerBilled


class RecordBillingRun(WriteInput):
    report: BillingRunReport


def _clients(settings: Settings) -> tuple[Book, StripePayments]:
    """The process's book and StripePayments (activities/boundary.py, per_settings)."""
    book = per_settings("book", settings, lambda s: Book(s, clock=app_clock(s)))
    return book, per_settings("stripe", settings, StripePayments.from_settings)


def _book(settings: Settings) -> Book:
    return _clients(settings)[0]


def _stripe(settings: Settings) -> StripePayments:
    return _clients(settings)[1]


@activity(bp)
def list_due_customers(page: ListDueCustomers, ctx: ActivityContext) -> DueCustomers:
    """A page of the book's customers (in id order) whose billing day it is; customers
    Partner Center no longer lists are left out (they are flagged, not billed)."""
    found = _book(ctx.settings).customers.page(limit=page.page_size, next=page.after)
    due = tuple(
        c.id
        for c in found.items
        if c.billing_day == page.billing_day and c.gone_from_partner_center_at is None
    )
    return DueCustomers(customer_ids=due, next=found.next)


@activity(bp)
def plan_customer_invoice(ask: PlanCustomerInvoice, ctx: ActivityContext) -> PlannedInvoice:
    book = _book(ctx.settings)
    stored = book.customers.find(ask.customer_id)
    if stored is None:
        return PlannedInvoice(skip_reason=f"customer {ask.customer_id} is not in the book")
    customer = stored.record
    issued = book.invoices.find(customer.id, f"{customer.id}-{ask.period}"[:64])
    if issued is not None and issued.record.stripe_invoice_id is not None:
        invoice = issued.record
        return PlannedInvoice(
            already=CustomerBilled(
                run_id=ask.run_id,
                customer_id=customer.id,
                outcome="already_issued",
                invoice_id=invoice.id,
                stripe_invoice_id=invoice.stripe_invoice_id,
                status=invoice.status,
                total=invoice.total,
                hosted_invoice_url=invoice.hosted_invoice_url,
            )
        )
    records = []
    after: str | None = None
    while True:
        page = book.subscriptions.of_customer(customer.id, limit=PAGE, next=after)
        records += [r for r in page.items if r.gone_from_partner_center_at is None]
        if (after := page.next) is None:
            break
    window = billing_window(ask.period, customer.billing_day)
    try:
        prices = _list_prices(book, customer, offers_to_price(records, window), ask)
    except BelowCostError as exc:
        return PlannedInvoice(skip_reason=str(exc)[:1000])
    plan = plan_invoice(
        customer,
        records,
        prices,
        _changes_since(book, customer.id, add_months(window.start, -1)),
        period=ask.period,
        partner_country=ask.partner_country,
    )
    if plan.lines and customer.stripe_customer_id is None:
        return PlannedInvoice(plan=plan, skip_reason="the customer has no Stripe customer")
    return PlannedInvoice(
        plan=plan,
        stripe_customer_id=customer.stripe_customer_id,
        customer_name=customer.company_name[:200],
        contacts=tuple(
            Addressee(
                name=c.name, email=c.email, role=c.role, time_zone=customer.calendar.time_zone
            )
            for c in customer.contacts
        ),
    )


def _list_prices(
    book: Book, customer: Customer, keys: list[str], ask: PlanCustomerInvoice
) -> dict[str, OfferPrice]:
    """Each offer's price from the customer's price list in force, with Microsoft's cost in
    the customer's market (its country, else the partner's)."""
    if not keys:
        return {}
    price_list = book.price_lists.find(
        customer.price_list_id or "standard", customer.billing_currency
    )
    country = customer.country or ask.partner_country
    prices: dict[str, OfferPrice] = {}
    for key in keys:
        item, term, cycle = key.rsplit(":", 2)
        offer = book.offers.find(
            country,
            customer.billing_currency,
            item,
            term,  # type: ignore[arg-type]
            cycle,  # type: ignore[arg-type]
        )
        if offer is None or price_list is None:
            continue
        sell = offer_sell_price(price_list.record, offer, customer.id)
        prices[key] = OfferPrice(
            offer_key=key, price=sell.price, cost=sell.cost, below_cost=sell.below_cost
        )
    return prices


def _changes_since(book: Book, customer_id: str, since: date) -> list[LicenceChange]:
    """The licence changes the customer's timeline shows applied since `since`."""
    ids: list[str] = []
    after: str | None = None
    start = datetime.combine(since, time(), UTC)
    while True:
        page = book.timeline.page(customer_id, since=start, limit=PAGE, next=after)
        ids += [
            e.id.split(":")[1]
            for e in page.items
            if e.kind == "licence_change" and e.id.endswith(":applied")
        ]
        if (after := page.next) is None:
            break
    found = (book.licence_changes.find(change_id) for change_id in dict.fromkeys(ids))
    return [stored.record for stored in found if stored is not None]


def _day(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _description(plan: InvoicePlan) -> str:
    """The invoice's memo: the period, and the mid-term changes charged when they happened."""
    last = plan.window_end - timedelta(days=1)
    text = f"Licences for {plan.window_start} to {last}."
    if plan.listed_changes:
        listed = "; ".join(
            f"{c.effective_at:%Y-%m-%d} {c.kind} on {c.subscription_id}"
            + (
                f", {c.quantity_before} -> {c.quantity_after} seats"
                if c.quantity_before is not None and c.quantity_after is not None
                else ""
            )
            + (
                f", {'charged' if not c.charge.is_negative() else 'credited'} {c.charge}"
                if c.charge
                else ""
            )
            for c in plan.listed_changes
        )
        text += f" Charged or credited when they happened, not billed again: {listed}."
    return text


@activity(bp)
def issue_invoice(issue: IssueInvoice, ctx: ActivityContext) -> CustomerBilled:
    plan = issue.plan
    if not plan.lines:
        raise PermanentError(f"invoice {plan.invoice_id} has no lines to issue")
    stripe = _stripe(ctx.settings)
    tax_ids: tuple[str, ...] = ()
    if plan.tax.kind == "standard":
        percent = plan.tax.rate * 100
        tax_ids = (
            stripe.tax_rate(
                key=f"{percent.normalize():f}",
                percentage=percent,
                display_name="VAT" if plan.tax.note is None else "Tax",
            ),
        )
    lines = [
        IssueLine(
            amount=line.amount.amount_minor,
            description=line.description,
            period_start=_day(line.period_start),
            period_end=_day(line.period_end),
            tax_rate_ids=tax_ids,
            metadata={"cspflow_subscription_id": line.subscription_id, "kind": line.kind},
        )
        for line in plan.lines
    ]
    invoice = stripe.issue_invoice(
        issue.step_key,
        issue.stripe_customer_id,
        invoice_key=plan.invoice_id,
        currency=plan.currency,
        lines=lines,
        description=_description(plan),
        footer=plan.tax.note,
        days_until_due=plan.days_until_due,
        metadata={"cspflow_customer_id": plan.customer_id, "cspflow_period": plan.period},
    )
    declined = False
    if invoice.status == "open" and plan.collection == "charge_automatically":
        if not invoice.attempted:
            outcome = stripe.pay_invoice(issue.step_key, invoice.id)
            invoice, declined = outcome.invoice, outcome.decline is not None
        else:
            declined = True  # an earlier attempt was declined: dunning has it
    elif invoice.status == "open" and plan.collection == "send_invoice":
        invoice = stripe.send_invoice(issue.step_key, invoice.id)
    total = Money(amount_minor=invoice.total, currency=plan.currency)
    if total != plan.total:
        raise PermanentError(f"Stripe's invoice {invoice.id} totals {total}, the plan {plan.total}")
    _record_invoice(
        _book(ctx.settings), plan, invoice.id, invoice.status, invoice.hosted_invoice_url
    )
    return CustomerBilled(
        run_id=issue.run_id,
        customer_id=plan.customer_id,
        outcome="issued",
        invoice_id=plan.invoice_id,
        stripe_invoice_id=invoice.id,
        status=invoice.status,
        collection=plan.collection,
        declined=declined,
        hosted_invoice_url=invoice.hosted_invoice_url,
        subtotal=plan.subtotal,
        total=plan.total,
        margin=plan.margin,
        lines=len(plan.lines),
        not_billed=plan.not_billed,
    )


def _record_invoice(
    book: Book, plan: InvoicePlan, stripe_id: str, status: str, url: str | None
) -> None:
    """The issued invoice in the book, once: an invoice recorded by an earlier attempt
    (and perhaps updated since by Stripe's events) is left as it is."""
    if book.invoices.find(plan.customer_id, plan.invoice_id) is not None:
        return
    issued_at = book.clock.now()
    lines = [
        InvoiceLine(
            description=line.description,
            kind=line.kind,
            subscription_id=line.subscription_id,
            quantity=line.quantity,
            amount=line.amount,
            period_start=_day(line.period_start),
            period_end=_day(line.period_end),
        )
        for line in plan.lines
    ]
    if not plan.tax_total.is_zero():
        lines.append(
            InvoiceLine(
                description=f"Tax {plan.tax.rate * 100:f} %",
                kind="tax",
                quantity=1,
                amount=plan.tax_total,
                period_start=_day(plan.window_start),
                period_end=_day(plan.window_end),
            )
        )
    book.invoices.issue(
        Invoice(
            id=plan.invoice_id,
            customer_id=plan.customer_id,
            currency=plan.currency,
            lines=tuple(lines),
            status=status,  # type: ignore[arg-type]
            issued_at=issued_at,
            due_at=issued_at + timedelta(days=plan.days_until_due or 0),
            stripe_invoice_id=stripe_id,
            hosted_invoice_url=url,
        )
    )


@activity(bp)
def record_customer_billed(record: RecordCustomerBilled, ctx: ActivityContext) -> CustomerBilled:
    _book(ctx.settings).billed_customers.save(record.billed)
    return record.billed


@activity(bp)
def record_billing_run(record: RecordBillingRun, ctx: ActivityContext) -> BillingRunReport:
    _book(ctx.settings).billing_runs.save(record.report)
    return record.report
