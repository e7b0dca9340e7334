"""KPI events: one immutable fact per business outcome, aggregated later for the ops page."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, Rate, UtcDateTime
from shared.models.money import Money

KpiName = Literal[
    "time_to_value",  # order received -> licences usable; duration_seconds
    "sla_outcome",  # an SLA clock closed; outcome met/breached
    "renewal_outcome",  # renewed / changed / cancelled / lapsed; outcome
    "dunning_recovery",  # a dunning case closed; outcome recovered/written_off, amount
    "billing_accuracy",  # our invoice vs Microsoft's reconciliation; value = ratio
    "licence_change_lead_time",  # change requested -> applied/scheduled; duration_seconds
]


class KpiEvent(DomainModel):
    name: KpiName
    occurred_at: UtcDateTime
    customer_id: str = Field(min_length=1, max_length=64)
    subject_id: str = Field(min_length=1, max_length=200)
    outcome: str | None = Field(default=None, max_length=64)
    duration_seconds: int | None = Field(default=None, ge=0)
    amount: Money | None = None
    value: Rate | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _carries_a_measure(self) -> KpiEvent:
        if (
            self.outcome is None
            and self.duration_seconds is None
            and self.amount is None
            and self.value is None
        ):
            raise ValueError("a KPI event carries an outcome, a duration, an amount or a value")
        return self
