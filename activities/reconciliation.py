"""The reconciliation's activities (workflows/reconciliation.py): one side effect each.

- `resolve_partner_invoice`: which Partner Center invoice and period to reconcile (the
  invoice `invoice-ready` named, or the invoice of a period), a read.
- `reconcile_invoice`: the invoice's billed reconciliation lines read through the Graph
  export, each matched to what cspflow billed (the billing run's invoices and the charges
  made outside it, the book's `Charges`; shared/policy/reconciliation.py), the lines
  and the summary saved in the book (`Reconciliations`), the period's `billing_accuracy` KPI
  event recorded once, and an ops alert raised once when the leakage reaches the partner's
  threshold. Run again, it writes the same rows (nothing when equal).

The matching is one activity, not a fan-out: its inputs (thousands of lines) stay inside it
rather than crossing Durable's boundary, and every write it makes is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.book import Book
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.models import DomainModel, KpiEvent, Money
from shared.models.billing_run import PeriodName
from shared.models.intake import OpsAlert
from shared.models.party import Customer
from shared.models.reconciliation import (
    BilledLine,
    MicrosoftLine,
    ReconciledLine,
    ReconciliationSummary,
)
from shared.models.subscription import Subscription, SubscriptionRecord
from shared.partner_center import PartnerCenterClient
from shared.partner_center.models import ReconLineItem
from shared.policy.billing import period_of
from shared.policy.reconciliation import (
    accuracy,
    counts,
    leakage_by_customer,
    leakage_totals,
    over_threshold,
    reconcile,
)
from shared.policy.terms import add_months

bp = df.Blueprint()

WRITE_THREADS = 8  # rows written at once (the table client's pool holds 10)


class ResolveInvoice(DomainModel):
    invoice_id: str | None = Field(default=None, max_length=64)
    period: PeriodName | None = None


class ResolvedInvoice(DomainModel):
    invoice_id: str = Field(min_length=1, max_length=64)
    period: PeriodName


class ReconcileInvoice(WriteInput):
    invoice_id: str = Field(min_length=1, max_length=64)
    period: PeriodName


def _clients(settings: Settings) -> tuple[Book, PartnerCenterClient]:
    """The process's book and PartnerCenterClient (activities/boundary.py, per_settings)."""
    book = per_settings("book", settings, lambda s: Book(s, clock=app_clock(s)))
    return book, per_settings("partner_center", settings, PartnerCenterClient.from_settings)


@activity(bp)
def resolve_partner_invoice(ask: ResolveInvoice, ctx: ActivityContext) -> ResolvedInvoice:
    """The invoice and its period: a named invoice's billing period, or the invoice whose
    billing period starts in `period`."""
    if ask.invoice_id is None and ask.period is None:
        raise PermanentError("name the invoice_id or the period to reconcile")
    _, partner_center = _clients(ctx.settings)
    for invoice in partner_center.list_invoices():
        start = invoice.billing_period_start_date or invoice.invoice_date
        period = period_of(start.date())
        if invoice.id.upper() == (ask.invoice_id or "").upper() or (
            ask.invoice_id is None and period == ask.period
        ):
            return ResolvedInvoice(invoice_id=invoice.id, period=ask.period or period)
    what = f"invoice {ask.invoice_id}" if ask.invoice_id else f"invoice of {ask.period}"
    raise PermanentError(f"Partner Center has no {what} yet")


@activity(bp)
def reconcile_invoice(ask: ReconcileInvoice, ctx: ActivityContext) -> ReconciliationSummary:
    book, partner_center = _clients(ctx.settings)
    items = partner_center.billed_reconciliation(ask.invoice_id)
    customers = _customers_of(book, {item.customer_id for item in items})
    billed, sell, plans = _billed(book, ask.period, customers)
    microsoft = _priced(
        book, [_microsoft_line(n, item, customers) for n, item in enumerate(items)], plans
    )
    lines = reconcile(ask.period, microsoft, billed, sell)
    lines = _with_disputes(book, ask.period, lines)
    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        list(pool.map(book.reconciled_lines.save, lines))
    now = book.clock.now()
    totals = leakage_totals(lines)
    alerting = over_threshold(totals, ctx.settings.leakage_thresholds())
    summary = ReconciliationSummary(
        period=ask.period,
        invoice_numbers=(ask.invoice_id,),
        reconciled_at=now,
        lines=len(lines),
        matched=sum(line.classification == "matched" for line in lines),
        counts=counts(lines),
        billing_accuracy=accuracy(lines),
        leakage=tuple(totals),
        leakage_by_customer=tuple(leakage_by_customer(lines)[:100]),
        alerted=bool(alerting),
    )
    stored = book.reconciliations.find(ask.period)
    if stored is None or stored.record.model_copy(update={"reconciled_at": now}) != summary:
        book.reconciliations.save(summary)
    book.kpi_events.record(
        KpiEvent(
            name="billing_accuracy",
            occurred_at=_period_end(ask.period),
            customer_id="all",
            subject_id=f"reconciliation:{ask.period}:{ask.invoice_id}",
            value=summary.billing_accuracy,
            dimensions={"period": ask.period, "lines": str(summary.lines)},
        )
    )
    if alerting:
        worst = ", ".join(f"{c.customer_id} {c.leakage}" for c in summary.leakage_by_customer[:5])
        book.alerts.raise_alert(
            OpsAlert(
                id=f"billing-leakage:{ask.period}:{ask.invoice_id}",
                at=now,
                kind="billing_leakage",
                summary=(
                    f"{ask.period}: leakage {', '.join(str(t) for t in alerting)} "
                    f"(Microsoft billed the partner, customers were not billed); {worst}"
                )[:1000],
                subject_id=f"reconciliation:{ask.period}",
            )
        )
    return summary


def _period_end(period: str) -> datetime:
    """The KPI event's time: the last instant of the period, so it falls in its month."""
    start = date.fromisoformat(f"{period}-01")
    return datetime.combine(add_months(start, 1), datetime.min.time(), UTC) - timedelta(seconds=1)


def _customers_of(book: Book, tenants: set[str]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for tenant in tenants:
        stored = book.customers.by_tenant(tenant)
        if stored is not None:
            found[tenant.lower()] = stored.record
    return found


def _microsoft_line(n: int, item: ReconLineItem, customers: dict[str, Customer]) -> MicrosoftLine:
    customer = customers.get(item.customer_id.lower())
    start = item.charge_start_date.date()
    end = item.charge_end_date.date()
    return MicrosoftLine(
        line_no=n,
        invoice_number=item.invoice_number,
        tenant_id=item.customer_id,
        customer_id=customer.id if customer else None,
        subscription_id=item.subscription_id,
        offer_id=f"{item.product_id}:{item.sku_id}:{item.availability_id}",
        charge_type=item.charge_type,
        quantity=item.quantity,
        unit_price=item.unit_price,
        effective_unit_price=item.effective_unit_price,
        subtotal=Money.from_decimal(item.subtotal, item.currency),
        charge_start=start,
        charge_end=max(end, start),
    )


Plan = tuple[Customer, Subscription]


def _priced(book: Book, lines: list[MicrosoftLine], plans: dict[str, Plan]) -> list[MicrosoftLine]:
    """Each line with Microsoft's cost of the offer it charged (the catalogue's, for the
    subscription's term and billing cycle in its customer's market and currency)."""
    found: dict[tuple[object, ...], Money | None] = {}
    out: list[MicrosoftLine] = []
    for line in lines:
        plan = plans.get(line.subscription_id)
        offer_id = ":".join(line.offer_id.split(":")[:3])
        if plan is None or offer_id.count(":") != 2:
            out.append(line)
            continue
        customer, sub = plan
        key = (customer.country, customer.billing_currency, offer_id, sub.term_duration,
               sub.billing_cycle)  # fmt: skip
        if key not in found:
            found[key] = _unit_cost(book, customer, sub.model_copy(update={"offer_id": offer_id}))
        out.append(line.model_copy(update={"unit_cost": found[key]}))
    return out


def _billed(
    book: Book, period: str, customers: dict[str, Customer]
) -> tuple[list[BilledLine], dict[str, Money], dict[str, Plan]]:
    """What cspflow billed the customers Microsoft's lines name for service starting in the
    period's calendar month (this period's invoice and the one before: a customer billed on
    the 15th was billed the first half of the month by last period's invoice; and the
    charges and credits made outside the run: orders' first periods, licence changes), and
    each of their subscriptions' sell price."""
    first = date.fromisoformat(f"{period}-01")
    end = add_months(first, 1)
    previous = period_of(add_months(first, -1))
    billed: list[BilledLine] = []
    sell: dict[str, Money] = {}
    plans: dict[str, Plan] = {}
    for customer in customers.values():
        costs: dict[str, Money | None] = {}
        for records in _subscription_pages(book, customer.id):
            for record in records:
                if record.unit_price is not None:
                    sell[record.id] = record.unit_price
                costs[record.id] = _unit_cost(book, customer, record.subscription)
                plans[record.id] = (customer, record.subscription)
        for name in (f"{customer.id}-{period}", f"{customer.id}-{previous}"):
            stored = book.invoices.find(customer.id, name[:64])
            if stored is None:
                continue
            for line in stored.record.lines:
                start = line.period_start.date()
                if line.subscription_id is None or not first <= start < end:
                    continue
                billed.append(
                    BilledLine(
                        customer_id=customer.id,
                        invoice_id=stored.record.id,
                        subscription_id=line.subscription_id,
                        kind=line.kind,
                        quantity=line.quantity,
                        amount=line.amount,
                        period_start=start,
                        period_end=line.period_end.date(),
                        unit_cost=costs.get(line.subscription_id),
                    )
                )
        billed.extend(_charged(book, customer.id, first, end, costs))
    return billed, sell, plans


def _charged(
    book: Book, customer_id: str, first: date, end: date, costs: dict[str, Money | None]
) -> Iterator[BilledLine]:
    """The charges and credits cspflow made the customer outside the billing run for service
    starting in `[first, end)` (the book's `Charges`)."""
    after: str | None = None
    while True:
        page = book.charges.of_customer(
            customer_id, starting_from=first, starting_before=end, limit=1000, next=after
        )
        for charge in page.items:
            yield BilledLine(
                customer_id=customer_id,
                invoice_id=(charge.stripe_document or charge.id)[:64],
                subscription_id=charge.subscription_id,
                kind=charge.kind,
                quantity=charge.quantity,
                amount=charge.amount,
                period_start=charge.period_start.date(),
                period_end=charge.period_end.date(),
                unit_cost=costs.get(charge.subscription_id),
                to_subscription_id=charge.to_subscription_id,
            )
        if (after := page.next) is None:
            return


def _subscription_pages(book: Book, customer_id: str) -> Iterator[list[SubscriptionRecord]]:
    after: str | None = None
    while True:
        page = book.subscriptions.of_customer(customer_id, limit=1000, next=after)
        yield list(page.items)
        if (after := page.next) is None:
            return


def _unit_cost(book: Book, customer: Customer, sub: Subscription) -> Money | None:
    if customer.country is None:
        return None
    offer = book.offers.find(
        customer.country,
        customer.billing_currency,
        sub.offer_id,
        sub.term_duration,
        sub.billing_cycle,
    )
    return offer.unit_cost if offer is not None else None


def _with_disputes(book: Book, period: str, lines: list[ReconciledLine]) -> list[ReconciledLine]:
    """Each line linked to the disputes customers opened against it (same invoice and
    subscription)."""
    disputes: dict[tuple[str, str], list[str]] = {}
    after: str | None = None
    while True:
        page = book.disputes.of_period(period, limit=1000, next=after)
        for d in page.items:
            disputes.setdefault((d.invoice_id, d.subscription_id), []).append(d.id)
        if (after := page.next) is None:
            break
    if not disputes:
        return lines
    return [
        line.model_copy(
            update={
                "disputes": tuple(disputes.get((line.invoice_id or "", line.subscription_id), ()))
            }
        )
        for line in lines
    ]
