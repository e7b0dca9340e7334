"""Dunning: the state of one unpaid invoice's collection, and the book's record of it.

`DunningCase` is what the ladder (shared/policy/dunning.py) reads: attempts, notices,
suspension, payment. `DunningCaseRecord` is how the book keeps it: whose case it is and
whether it is still open. A case is opened by the first failed charge of an invoice and
closed once: recovered (the invoice was paid), written off, or cancelled (the invoice was
voided or credited).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.billing import PaymentAttempt
from shared.models.money import Money

DunningStatus = Literal["open", "recovered", "written_off", "cancelled"]
DunningAction = Literal[
    "opened",
    "retry_charge",
    "send_payment_failed_notice",
    "turn_off_auto_renew",
    "suspend",
    "write_off",
    "reactivate",
    "restore_auto_renew",
    "close",
    "paid",
    "card_updated",
    "payment_failed",
]


class DunningCase(DomainModel):
    """Everything the ladder needs to know about one unpaid invoice. Crosses Durable boundaries."""

    invoice_id: str = Field(min_length=1, max_length=64)
    opened_at: UtcDateTime
    attempts: tuple[PaymentAttempt, ...] = ()
    payment_method_id: str = Field(min_length=1, max_length=255)
    # Opened because an invoice on invoice terms (`send_invoice`) passed its due date: no
    # decline to start from and no automatic charge; notices, then grace and suspension.
    overdue: bool = False
    payment_method_changed_at: UtcDateTime | None = None
    notices_sent: int = Field(default=0, ge=0)
    suspended: bool = False
    auto_renew_off: bool = False
    next_renewal_lock_at: UtcDateTime | None = None
    paid_at: UtcDateTime | None = None
    written_off: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> DunningCase:
        if not self.attempts and not self.overdue:
            raise ValueError("a case opened by a failed payment starts with that attempt")
        if any(a.outcome == "succeeded" for a in self.attempts):
            raise ValueError("a succeeded attempt closes the case: record it as paid_at")
        if any(a.invoice_id != self.invoice_id for a in self.attempts):
            raise ValueError("every attempt must be for the case's invoice")
        return self


class DunningHistoryEntry(DomainModel):
    """One thing the dunning workflow did or learnt, in order (GET /api/dunning/{invoice_id})."""

    at: UtcDateTime
    action: DunningAction
    detail: str = Field(max_length=500)


class DunningNextStep(DomainModel):
    """What the ladder does next about an open case, and when."""

    action: DunningAction
    at: UtcDateTime
    reason: str = Field(max_length=300)


class DunningCaseRecord(DomainModel):
    """A dunning case as the book keeps it: the customer, the ladder's state, open or closed.

    The Stripe and Partner Center facts the workflow needs again (which subscriptions it
    suspended or turned auto-renew off for, so it restores exactly those) live here too."""

    customer_id: str = Field(min_length=1, max_length=64)
    case: DunningCase
    status: DunningStatus = "open"
    closed_at: UtcDateTime | None = None
    stripe_invoice_id: str | None = Field(default=None, max_length=255)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    invoice_number: str | None = Field(default=None, max_length=100)
    amount_due: Money | None = None
    suspended_subscriptions: tuple[str, ...] = ()
    auto_renew_turned_off: tuple[str, ...] = ()
    subscriptions_cancelled: tuple[str, ...] = ()
    first_notice_at: UtcDateTime | None = None
    history: tuple[DunningHistoryEntry, ...] = ()
    next_step: DunningNextStep | None = None

    @model_validator(mode="after")
    def _closed_consistently(self) -> DunningCaseRecord:
        if (self.status == "open") != (self.closed_at is None):
            raise ValueError("closed_at is set exactly when the case is no longer open")
        if self.status == "recovered" and self.case.paid_at is None:
            raise ValueError("a recovered case carries the payment time (case.paid_at)")
        if self.status == "written_off" and not self.case.written_off:
            raise ValueError("a written-off case has case.written_off set")
        return self

    @property
    def invoice_id(self) -> str:
        return self.case.invoice_id
