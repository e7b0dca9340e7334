"""The billing run: what one customer is billed for one period, and the run's report.

`InvoicePlan` is computed by shared/policy/billing.py from the book (docs/rules.md,
"Billing run"); the billing run (workflows/billing_run.py) issues it in Stripe and reports
it. Amounts are Money in the customer's billing currency, compared exactly.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, Rate, UtcDateTime
from shared.models.licence_change import ChangeKind
from shared.models.money import CurrencyCode, Money

# A billing period: the calendar month it starts in, `YYYY-MM`.
PeriodName = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
BilledKind = Literal["cycle", "renew"]
TaxKind = Literal["standard", "exempt", "reverse_charge", "untaxed"]
Collection = Literal["charge_automatically", "send_invoice"]


class OfferPrice(DomainModel):
    """An offer's sell price per seat per billing period from the price list in force, and
    Microsoft's cost for the same (docs/rules.md#price-rules)."""

    offer_key: str = Field(min_length=1, max_length=200)
    price: Money
    cost: Money | None = None
    below_cost: bool = False


class PlannedLine(DomainModel):
    """One subscription's billing period on the invoice: quantity x unit price."""

    subscription_id: str = Field(min_length=1, max_length=64)
    offer_key: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=500)
    kind: BilledKind
    quantity: int = Field(ge=1)
    unit_price: Money
    amount: Money
    tax: Money
    # Microsoft's cost for the same seats and period, when the catalogue knows it.
    cost: Money | None = None
    period_start: date
    period_end: date  # exclusive

    @model_validator(mode="after")
    def _consistent(self) -> PlannedLine:
        if self.amount != self.unit_price * self.quantity:
            raise ValueError("amount is unit_price x quantity")
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class NotBilled(DomainModel):
    """A subscription the run looked at and did not bill, with the reason."""

    subscription_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class ListedChange(DomainModel):
    """A mid-term licence change, charged or credited when it happened: on the invoice for
    reference only (docs/rules.md#mid-term-changes-listed)."""

    change_id: str = Field(min_length=1, max_length=100)
    subscription_id: str = Field(min_length=1, max_length=64)
    kind: ChangeKind
    # The seats before and after (None for a change that moved no seats: an upgrade's).
    quantity_before: int | None = Field(default=None, ge=0)
    quantity_after: int | None = Field(default=None, ge=0)
    effective_at: UtcDateTime
    charge: Money | None = None


class TaxTreatment(DomainModel):
    kind: TaxKind
    rate: Rate
    note: str | None = Field(default=None, max_length=500)


class InvoicePlan(DomainModel):
    """What one customer is billed for one period, before Stripe has seen it."""

    invoice_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    period: PeriodName
    window_start: date
    window_end: date  # exclusive
    currency: CurrencyCode
    lines: tuple[PlannedLine, ...] = ()
    listed_changes: tuple[ListedChange, ...] = ()
    not_billed: tuple[NotBilled, ...] = ()
    tax: TaxTreatment
    subtotal: Money
    tax_total: Money
    total: Money
    cost: Money | None = None
    margin: Money | None = None
    collection: Collection
    days_until_due: int | None = Field(default=None, ge=0, le=90)

    @model_validator(mode="after")
    def _totals_add_up(self) -> InvoicePlan:
        subtotal = Money.zero(self.currency)
        tax = Money.zero(self.currency)
        for line in self.lines:
            subtotal += line.amount
            tax += line.tax
        if (subtotal, tax) != (self.subtotal, self.tax_total):
            raise ValueError("subtotal and tax_total are the sums of the lines")
        if self.total != self.subtotal + self.tax_total:
            raise ValueError("total is subtotal + tax_total")
        return self


BilledOutcome = Literal["issued", "already_issued", "nothing_to_bill", "skipped", "failed"]
InvoiceState = Literal["draft", "open", "paid", "uncollectible", "void"]


class CustomerBilled(DomainModel):
    """What the run did for one customer: an invoice issued (and how it was collected),
    nothing to bill, or skipped/failed with the reason (never silently)."""

    run_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    outcome: BilledOutcome
    reason: str | None = Field(default=None, max_length=1000)
    invoice_id: str | None = Field(default=None, max_length=64)
    stripe_invoice_id: str | None = None
    status: InvoiceState | None = None
    collection: Collection | None = None
    declined: bool = False
    hosted_invoice_url: str | None = None
    subtotal: Money | None = None
    total: Money | None = None
    margin: Money | None = None
    lines: int = Field(default=0, ge=0)
    not_billed: tuple[NotBilled, ...] = ()
    # Whether the invoice notice (with the hosted invoice page) was sent.
    notified: bool = False


class SkippedCustomer(DomainModel):
    customer_id: str = Field(min_length=1, max_length=64)
    outcome: Literal["skipped", "failed"]
    reason: str = Field(min_length=1, max_length=1000)


MAX_LISTED = 200  # customers listed by name on a report; the rest are counted


class BillingTotals(DomainModel):
    """Running totals of a run, carried from page to page."""

    customers: int = 0
    issued: int = 0
    already_issued: int = 0
    nothing_to_bill: int = 0
    skipped_count: int = 0
    failed_count: int = 0
    declined: int = 0
    # Per currency: what the issued invoices total (tax included), and the margin
    # (sell minus Microsoft's cost, before tax) of those whose cost is known.
    totals: tuple[Money, ...] = ()
    margins: tuple[Money, ...] = ()
    skipped: tuple[SkippedCustomer, ...] = ()

    def add(self, billed: CustomerBilled) -> BillingTotals:
        counts = {
            "customers": self.customers + 1,
            "issued": self.issued + (billed.outcome == "issued"),
            "already_issued": self.already_issued + (billed.outcome == "already_issued"),
            "nothing_to_bill": self.nothing_to_bill + (billed.outcome == "nothing_to_bill"),
            "skipped_count": self.skipped_count + (billed.outcome == "skipped"),
            "failed_count": self.failed_count + (billed.outcome == "failed"),
            "declined": self.declined + billed.declined,
        }
        totals, margins, skipped = self.totals, self.margins, self.skipped
        if billed.outcome in ("issued", "already_issued"):
            totals = _plus(totals, billed.total)
            margins = _plus(margins, billed.margin)
        if billed.outcome in ("skipped", "failed") and len(skipped) < MAX_LISTED:
            skipped = (
                *skipped,
                SkippedCustomer(
                    customer_id=billed.customer_id,
                    outcome=billed.outcome,
                    reason=billed.reason or "no reason given",
                ),
            )
        return self.model_copy(
            update={**counts, "totals": totals, "margins": margins, "skipped": skipped}
        )


def _plus(amounts: tuple[Money, ...], amount: Money | None) -> tuple[Money, ...]:
    if amount is None:
        return amounts
    found = [a for a in amounts if a.currency == amount.currency]
    if not found:
        return tuple(sorted((*amounts, amount), key=lambda a: a.currency))
    return tuple(a + amount if a.currency == amount.currency else a for a in amounts)


class BillingRun(DomainModel):
    """The input of one run (and of each of its episodes: it continues as new per page)."""

    period: PeriodName
    billing_day: int = Field(ge=1, le=28)
    partner_country: str = Field(pattern=r"^[A-Z]{2}$")
    page_size: int = Field(default=100, ge=1, le=1000)
    in_flight: int = Field(default=10, ge=1, le=100)
    after: str | None = None
    page: int = Field(default=0, ge=0)
    started_at: UtcDateTime | None = None
    totals: BillingTotals = BillingTotals()

    @property
    def run_id(self) -> str:
        return f"{self.period}-d{self.billing_day:02d}"


class BillCustomer(DomainModel):
    """The input of one customer's billing orchestration."""

    run_id: str = Field(min_length=1, max_length=64)
    period: PeriodName
    customer_id: str = Field(min_length=1, max_length=64)
    partner_country: str = Field(pattern=r"^[A-Z]{2}$")


class BillingLane(DomainModel):
    """The input of one lane of a billing run's page: its customers, billed one after
    another."""

    run_id: str = Field(min_length=1, max_length=64)
    period: PeriodName
    partner_country: str = Field(pattern=r"^[A-Z]{2}$")
    customer_ids: tuple[str, ...] = Field(min_length=1, max_length=1000)


class BillingLaneResult(DomainModel):
    """What a lane's customers' orchestrations returned, in the lane's order."""

    billed: tuple[CustomerBilled, ...]


class BillingRunReport(DomainModel):
    run_id: str = Field(min_length=1, max_length=64)
    period: PeriodName
    billing_day: int = Field(ge=1, le=28)
    started_at: UtcDateTime
    finished_at: UtcDateTime
    complete: bool
    error: str | None = Field(default=None, max_length=2000)
    pages: int = Field(ge=0)
    totals: BillingTotals


class BillingProgress(DomainModel):
    run_id: str
    state: Literal["billing", "done"]
    pages: int
    customers: int
    issued: int
