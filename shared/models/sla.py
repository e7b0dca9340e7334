"""SLA clocks: one per promise with a deadline (onboarding, licence change, renewal decision)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.party import SlaTier

SlaKind = Literal[
    "onboarding",
    "licence_change",
    "renewal_decision",
    "payment_first_contact",
    "support_first_response",
    "support_resolution",
]
SlaState = Literal["on_track", "at_risk", "breached", "met"]


class SlaClock(DomainModel):
    kind: SlaKind
    subject_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=64)
    tier: SlaTier
    started_at: UtcDateTime
    at_risk_at: UtcDateTime
    deadline: UtcDateTime
    completed_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _in_order(self) -> SlaClock:
        if not self.started_at <= self.at_risk_at <= self.deadline:
            raise ValueError("expected started_at <= at_risk_at <= deadline")
        if self.completed_at is not None and self.completed_at < self.started_at:
            raise ValueError("completed_at is before started_at")
        return self
