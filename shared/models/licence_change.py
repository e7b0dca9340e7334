"""A licence change the customer asked for: more seats, fewer seats, or a SKU upgrade.

NCE decides when it can happen (shared/policy/nce.py): increases and upgrades now, decreases
only inside the 7-day window, otherwise scheduled for the renewal. `change_id` is chosen by
the client (API conventions), so the same request twice is one change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.catalog import CatalogItemId
from shared.models.money import Money

ChangeKind = Literal["increase", "decrease", "upgrade"]
ChangeStatus = Literal[
    "received",  # accepted, not yet decided
    "awaiting_approval",  # a large change waits for the partner's approval
    "scheduled",  # applies at the renewal (a decrease after the cancellation window)
    "applied",  # done in Partner Center (and charged or refunded)
    "rejected",  # refused by policy or by the approver; `reason` says why
    "failed",  # could not be applied; `reason` says why
]
OPEN_CHANGE_STATUSES: frozenset[str] = frozenset({"received", "awaiting_approval", "scheduled"})


class LicenceChange(DomainModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    kind: ChangeKind
    quantity_before: int = Field(ge=0)
    quantity_after: int = Field(ge=0)
    # The catalog item an upgrade moves to (within the product family).
    target_offer_id: CatalogItemId | None = None
    requested_at: UtcDateTime
    status: ChangeStatus = "received"
    # When a scheduled change takes effect (the term end), or when an applied one did.
    effective_at: UtcDateTime | None = None
    # What the customer is charged (positive) or refunded (negative) for it, once known.
    charge: Money | None = None
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> LicenceChange:
        if self.kind == "increase" and self.quantity_after <= self.quantity_before:
            raise ValueError("an increase ends with more seats than it started with")
        if self.kind == "decrease" and self.quantity_after >= self.quantity_before:
            raise ValueError("a decrease ends with fewer seats than it started with")
        if (self.kind == "upgrade") != (self.target_offer_id is not None):
            raise ValueError("target_offer_id is given exactly for an upgrade")
        if self.status in ("scheduled", "applied") and self.effective_at is None:
            raise ValueError(f"a {self.status} change says when it takes effect (effective_at)")
        return self

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CHANGE_STATUSES
