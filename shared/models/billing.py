"""Invoices cspflow issues to customers and the payment attempts made against them.

Statuses and failure fields follow Stripe's shapes (Invoice.status; the last payment error's
`code`, `decline_code` and `advice_code`), so a Stripe object maps onto these one to one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.money import CurrencyCode, Money

InvoiceStatus = Literal["draft", "open", "paid", "uncollectible", "void"]
ChargeKind = Literal[
    "new", "renew", "cycle", "add_quantity", "remove_quantity", "upgrade", "tax", "cancel"
]


class InvoiceLine(DomainModel):
    description: str = Field(min_length=1, max_length=500)
    kind: ChargeKind
    subscription_id: str | None = None
    quantity: int = Field(ge=0)
    amount: Money
    period_start: UtcDateTime
    period_end: UtcDateTime

    @model_validator(mode="after")
    def _period_in_order(self) -> InvoiceLine:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class Invoice(DomainModel):
    id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    currency: CurrencyCode
    lines: tuple[InvoiceLine, ...] = Field(min_length=1)
    status: InvoiceStatus = "draft"
    issued_at: UtcDateTime
    due_at: UtcDateTime
    stripe_invoice_id: str | None = Field(default=None, pattern=r"^in_[A-Za-z0-9]+$")
    hosted_invoice_url: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Invoice:
        if any(line.amount.currency != self.currency for line in self.lines):
            raise ValueError(f"every line must be in the invoice currency {self.currency}")
        if self.due_at < self.issued_at:
            raise ValueError("due_at is before issued_at")
        return self

    @property
    def total(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total += line.amount
        return total


ChargeSource = Literal["order", "licence_change"]


class Charge(DomainModel):
    """A charge or credit cspflow made to a customer for a subscription outside the billing
    run, recorded when it is made: an order's first billing period (`new`), seats added
    (`add_quantity`), seats removed inside the cancellation window (`remove_quantity`), a
    cancellation's refund (`cancel`), an upgrade's price difference (`upgrade`). What the
    reconciliation matches Microsoft's lines of the same charge types against
    (docs/billing.md, "Reconciliation").

    `amount` is what the customer paid (positive) or was credited (negative); `quantity` the
    seats it was for; `[period_start, period_end)` the service it pays for. An upgrade into
    another subscription (a partial upgrade) names it in `to_subscription_id`."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    kind: ChargeKind
    quantity: int = Field(ge=0)
    amount: Money
    period_start: UtcDateTime
    period_end: UtcDateTime
    charged_at: UtcDateTime
    source: ChargeSource
    reference: str = Field(min_length=1, max_length=100)  # the order or licence change id
    stripe_invoice_id: str | None = Field(default=None, max_length=100)
    stripe_credit_note_id: str | None = Field(default=None, max_length=100)
    to_subscription_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _consistent(self) -> Charge:
        if self.kind == "tax":
            raise ValueError("tax is not a charge for a subscription")
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        credit = self.kind in ("remove_quantity", "cancel")
        if credit and self.amount.amount_minor > 0:
            raise ValueError(f"a {self.kind} is a credit: its amount is not positive")
        if not credit and self.amount.is_negative():
            raise ValueError(f"a {self.kind} is a charge: its amount is not negative")
        return self

    @property
    def stripe_document(self) -> str | None:
        """The Stripe document the customer has for it: its credit note, or its invoice."""
        return self.stripe_credit_note_id or self.stripe_invoice_id


PaymentOutcome = Literal["succeeded", "failed", "requires_action"]


class PaymentAttempt(DomainModel):
    """One charge of an invoice against one payment method, and what the issuer said."""

    invoice_id: str = Field(min_length=1, max_length=64)
    attempted_at: UtcDateTime
    amount: Money
    payment_method_id: str = Field(min_length=1, max_length=255)
    outcome: PaymentOutcome
    # Stripe's last_payment_error: `code` (e.g. card_declined), `decline_code` from the
    # issuer (e.g. insufficient_funds), `advice_code` (try_again_later, do_not_try_again,
    # confirm_card_data).
    failure_code: str | None = None
    decline_code: str | None = None
    advice_code: str | None = None
    # Stripe's charge, when known: a failure Stripe reports again (invoice.payment_failed for
    # a charge cspflow made) is recognised as the attempt already recorded.
    charge_id: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _failure_fields_only_on_failure(self) -> PaymentAttempt:
        failed = self.outcome != "succeeded"
        if not failed and (self.failure_code or self.decline_code or self.advice_code):
            raise ValueError("a succeeded attempt carries no failure_code/decline_code")
        if self.amount.amount_minor <= 0:
            raise ValueError("a charge amount must be positive")
        return self
