"""One renewal: a subscription's term end, the reminders sent for it, the customer's decision
and what Partner Center did. Keyed by subscription and term end, like the renewal workflow's
instance id, so a second sweep finds the same renewal."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime

RenewalDecision = Literal["renew", "renew_with_changes", "turn_off_auto_renew", "expire"]
RenewalDecidedBy = Literal["customer", "partner", "default"]
RenewalOutcome = Literal["renewed", "changed", "cancelled", "lapsed"]


class Renewal(DomainModel):
    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    term_end: UtcDateTime
    reminders_sent: tuple[UtcDateTime, ...] = ()
    decision: RenewalDecision | None = None
    decided_at: UtcDateTime | None = None
    decided_by: RenewalDecidedBy | None = None
    outcome: RenewalOutcome | None = None
    closed_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Renewal:
        decided = (self.decision, self.decided_at, self.decided_by)
        if any(v is None for v in decided) and any(v is not None for v in decided):
            raise ValueError("decision, decided_at and decided_by are set together")
        if (self.outcome is None) != (self.closed_at is None):
            raise ValueError("outcome and closed_at are set together")
        return self
