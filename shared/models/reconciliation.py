"""Reconciliation: each line Microsoft billed the partner, matched to what cspflow billed its
customer, and classified (docs/billing.md, "Reconciliation"; docs/rules.md#reconciliation)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from shared.models._base import DomainModel, Rate, UtcDateTime
from shared.models.billing import ChargeKind
from shared.models.billing_run import PeriodName
from shared.models.money import Money

Classification = Literal[
    "matched",
    "missed_billing",  # Microsoft charged the partner, the customer was not billed: leakage
    "over_billing",  # the customer was billed for more than Microsoft charged
    "price_anomaly",  # billed, but below cost or without a markup
    "unmatched_microsoft",  # a Microsoft line cspflow cannot place (no customer in the book)
    "unmatched_cspflow",  # billed by cspflow, charged by Microsoft for nothing
]
CLASSIFICATIONS: tuple[Classification, ...] = (
    "matched",
    "missed_billing",
    "over_billing",
    "price_anomaly",
    "unmatched_microsoft",
    "unmatched_cspflow",
)


class MicrosoftLine(DomainModel):
    """One billed reconciliation line of Partner Center's invoice, as the matcher reads it."""

    line_no: int = Field(ge=0)
    invoice_number: str = Field(default="", max_length=64)
    tenant_id: str = Field(min_length=1, max_length=64)
    customer_id: str | None = Field(default=None, max_length=64)  # the book's, when known
    subscription_id: str = Field(default="", max_length=64)
    offer_id: str = Field(default="", max_length=200)
    charge_type: str = Field(min_length=1, max_length=64)
    quantity: int
    unit_price: Decimal
    effective_unit_price: Decimal
    subtotal: Money
    charge_start: date
    charge_end: date  # inclusive, as Microsoft gives it
    # Microsoft's cost per seat for a whole period of the offer this line charged, in the
    # customer's currency (the catalogue), when known: the price check's cost, rather than
    # the subscription's current offer (an upgraded subscription's earlier lines).
    unit_cost: Money | None = None


class BilledLine(DomainModel):
    """One line cspflow billed its customer: a billing run's invoice line, or a charge or
    credit made outside the run (the book's `Charges`: `invoice_id` is then its Stripe
    invoice or credit note). A credit's amount is negative, its quantity the seats credited;
    an upgrade into another subscription names it (`to_subscription_id`)."""

    customer_id: str = Field(min_length=1, max_length=64)
    invoice_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    kind: ChargeKind
    quantity: int = Field(ge=0)
    amount: Money
    period_start: date
    period_end: date  # exclusive
    # Microsoft's cost per seat for the same period in the line's currency (the catalogue).
    unit_cost: Money | None = None
    to_subscription_id: str | None = Field(default=None, max_length=64)

    @property
    def unit_price(self) -> Money:
        return self.amount.scaled(Decimal(1) / self.quantity) if self.quantity else self.amount


class ReconciledLine(DomainModel):
    period: PeriodName
    line_no: int = Field(ge=0)
    classification: Classification
    reason: str = Field(default="", max_length=500)
    customer_id: str | None = None
    tenant_id: str | None = None
    subscription_id: str = ""
    charge_type: str = ""
    service_start: date | None = None
    service_end: date | None = None  # inclusive
    microsoft_quantity: int | None = None
    microsoft_amount: Money | None = None
    invoice_id: str | None = None
    billed_quantity: int | None = None
    billed_amount: Money | None = None
    # Missed billing at the customer's sell price; over-billing by how much.
    leakage: Money | None = None
    over_billed: Money | None = None
    disputes: tuple[str, ...] = ()


class CustomerLeakage(DomainModel):
    customer_id: str
    leakage: Money


class ReconciliationSummary(DomainModel):
    period: PeriodName
    invoice_numbers: tuple[str, ...] = ()
    reconciled_at: UtcDateTime
    lines: int = Field(ge=0)
    matched: int = Field(ge=0)
    counts: dict[str, int] = Field(default_factory=dict)
    # matched lines / all lines (1 when there are none)
    billing_accuracy: Rate
    leakage: tuple[Money, ...] = ()  # per currency
    leakage_by_customer: tuple[CustomerLeakage, ...] = ()
    alerted: bool = False


class Dispute(DomainModel):
    """A customer's dispute against a line of one of its invoices."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    customer_id: str = Field(min_length=1, max_length=64)
    invoice_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    period: PeriodName
    reason: str = Field(min_length=1, max_length=1000)
    opened_at: UtcDateTime
    status: Literal["open", "resolved"] = "open"
