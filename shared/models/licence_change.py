"""A licence change the customer asked for: seats (up or down), an upgrade, auto-renew on or
off, or a cancellation (docs/licence-changes.md).

NCE decides when it can happen (shared/policy/nce.py): increases and upgrades now, decreases
and cancellations only inside the 7-day window of the seats concerned, otherwise scheduled
for the next term (a decrease) or refused (a cancellation: turn auto-renew off). `id` is
chosen by the client (API conventions), so the same request twice is one change.

A quantity change names the seats wanted (`quantity`) or how many to add or remove
(`change_by`, e.g. -1): a relative change is resolved on the subscription as Partner Center
has it when the change's turn comes, so concurrent "one seat fewer" requests remove one seat
each, in arrival order, never the same seat twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.catalog import CatalogItemId
from shared.models.money import Money

ChangeKind = Literal["quantity", "upgrade", "auto_renew", "cancel"]
ChangeStatus = Literal[
    "received",  # accepted, waiting for its turn on the subscription
    "pending_approval",  # a large change waits for the partner's approval
    "applying",  # decided; being charged and applied (or held until Partner Center can)
    "scheduled_for_next_term",  # applies at the renewal (a decrease after the window)
    "applied",  # done in Partner Center (and charged or credited)
    "rejected",  # refused by the rules or by the approver; `reason` says why
    "failed",  # could not be applied (a declined card, Partner Center refused); `reason`
]
OPEN_CHANGE_STATUSES: frozenset[str] = frozenset(
    {"received", "pending_approval", "applying", "scheduled_for_next_term"}
)
FINAL_CHANGE_STATUSES: frozenset[str] = frozenset(
    {"applied", "scheduled_for_next_term", "rejected", "failed"}
)
ApprovalDecision = Literal["approve", "reject"]


class Approval(DomainModel):
    """The partner's approval of a large change: asked, then decided (or timed out)."""

    requested_at: UtcDateTime
    decide_by: UtcDateTime
    why: str = Field(max_length=300)
    decision: ApprovalDecision | None = None
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: UtcDateTime | None = None
    reason: str | None = Field(default=None, max_length=500)
    timed_out: bool = False


class LicenceChange(DomainModel):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    kind: ChangeKind
    # quantity: the seats wanted, or the seats to add (+) or remove (-).
    quantity: int | None = Field(default=None, ge=0)
    change_by: int | None = None
    # upgrade: the catalog item the subscription moves to; `quantity` seats of it (all when
    # None: a full transition).
    target_catalog_item_id: CatalogItemId | None = None
    auto_renew: bool | None = None
    requested_by: str = Field(min_length=1, max_length=200)
    requested_at: UtcDateTime
    status: ChangeStatus = "received"
    # What Partner Center had and has: filled in when the change is decided and applied.
    quantity_before: int | None = Field(default=None, ge=0)
    quantity_after: int | None = Field(default=None, ge=0)
    # When it took effect (applied) or takes effect (the next term's start).
    effective_at: UtcDateTime | None = None
    # What the customer is charged (positive) or credited (negative) for it, once known.
    charge: Money | None = None
    # The docs/rules.md anchor of the rule that decided it, and the sentence that explains it.
    rule: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    approval: Approval | None = None
    # Stripe's records of the money moved: the invoice charged, the credit note or refund.
    invoice_id: str | None = Field(default=None, max_length=100)
    credit_note_id: str | None = Field(default=None, max_length=100)
    refund_id: str | None = Field(default=None, max_length=100)
    # A subscription created by a partial upgrade.
    new_subscription_id: str | None = Field(default=None, max_length=64)
    decided_at: UtcDateTime | None = None
    completed_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LicenceChange:
        if self.kind == "quantity" and (self.quantity is None) == (self.change_by is None):
            raise ValueError("a quantity change gives quantity or change_by, not both")
        if self.kind == "quantity" and self.change_by == 0:
            raise ValueError("change_by adds or removes at least one seat")
        if self.kind != "quantity" and self.change_by is not None:
            raise ValueError("change_by is for quantity changes")
        if (self.kind == "upgrade") != (self.target_catalog_item_id is not None):
            raise ValueError("target_catalog_item_id is given exactly for an upgrade")
        if (self.kind == "auto_renew") != (self.auto_renew is not None):
            raise ValueError("auto_renew is given exactly for an auto_renew change")
        if self.kind in ("auto_renew", "cancel") and self.quantity is not None:
            raise ValueError(f"a {self.kind} change takes no quantity")
        if self.status in ("scheduled_for_next_term", "applied") and self.effective_at is None:
            raise ValueError(f"a {self.status} change says when it takes effect (effective_at)")
        return self

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CHANGE_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_CHANGE_STATUSES

    @property
    def arrival_key(self) -> str:
        """The change's place in its subscription's queue: the instant the API accepted it
        (to the microsecond), then its id."""
        return f"{_stamp(self.requested_at)}.{self.id}"


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S%fZ")
