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

    change_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    kind: ChangeKind
    quantity_before: int = Field(ge=0)
    quantity_after: int = Field(ge=0)
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
