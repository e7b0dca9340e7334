"""SLA clocks: one per promise with a deadline (onboarding, licence change, renewal decision,
first contact after a failed payment, support response and resolution).

A clock is a record in the book (shared/book/sla_clocks.py) and, while it runs, a durable
orchestration (workflows/sla_clock.py) that waits on timers for its at-risk moment, its
deadline and the escalation steps after a breach. The record is the truth: the owning workflow
stops it by signal (`SlaSignal`), and every action the clock takes re-reads the record first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.party import SlaKind, SlaTargetSpec, SlaTier, SlaUnit

__all__ = [
    "ClockView",
    "SlaAction",
    "SlaClock",
    "SlaHistoryEntry",
    "SlaKind",
    "SlaPhase",
    "SlaSignal",
    "SlaState",
    "SlaTargetSpec",
    "SlaUnit",
    "WakeView",
    "sla_instance_id",
]

SlaState = Literal["on_track", "at_risk", "breached", "met"]
# Where the clock is in its life: running (time counts), paused (waiting on the customer),
# closed (met or breached at completion), cancelled (the subject was cancelled).
SlaPhase = Literal["running", "paused", "closed", "cancelled"]
SlaAction = Literal["start", "met", "pause", "resume", "cancel", "acknowledge"]


class SlaHistoryEntry(DomainModel):
    """One thing that happened to a clock, in order."""

    at: UtcDateTime
    event: Literal[
        "started",
        "paused",
        "resumed",
        "at_risk",
        "breached",
        "escalated",
        "acknowledged",
        "met",
        "closed_breached",
        "cancelled",
    ]
    detail: str = Field(default="", max_length=500)


class SlaClock(DomainModel):
    kind: SlaKind
    subject_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=64)
    tier: SlaTier
    started_at: UtcDateTime
    at_risk_at: UtcDateTime
    deadline: UtcDateTime
    completed_at: UtcDateTime | None = None
    # The running state (defaults describe a clock that simply runs to its deadline).
    phase: SlaPhase = "running"
    target: SlaTargetSpec | None = None  # None: measured against a fixed deadline
    running_since: UtcDateTime | None = None  # when the current run began (None: started_at)
    spent: timedelta = timedelta(0)  # of the target's measure, before the current run
    at_risk_raised_at: UtcDateTime | None = None
    breached_at: UtcDateTime | None = None
    acknowledged_at: UtcDateTime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=200)
    escalated_to: list[str] = Field(default_factory=list)  # roles told, in order
    owner: str = Field(default="ops", max_length=200)
    history: list[SlaHistoryEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _in_order(self) -> SlaClock:
        if not self.started_at <= self.at_risk_at <= self.deadline:
            raise ValueError("expected started_at <= at_risk_at <= deadline")
        if self.completed_at is not None and self.completed_at < self.started_at:
            raise ValueError("completed_at is before started_at")
        if self.spent < timedelta(0):
            raise ValueError("spent time cannot be negative")
        return self

    @property
    def open(self) -> bool:
        return self.phase in ("running", "paused")


class SlaSignal(DomainModel):
    """What the owner of a promise tells its clock (through the SLA signal queue): start it,
    it was met, pause or resume it while waiting on the customer, cancel it; or, from ops,
    acknowledge a breach (stops the escalation, not the clock)."""

    action: SlaAction
    kind: SlaKind
    subject_id: str = Field(min_length=1, max_length=200)
    at: UtcDateTime
    customer_id: str | None = Field(default=None, min_length=1, max_length=64)
    by: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    # A promise measured against a date the owner computed (the renewal decision: 24 h
    # before the renewal lock) rather than a target from the tier.
    deadline: UtcDateTime | None = None

    @model_validator(mode="after")
    def _start_names_the_customer(self) -> SlaSignal:
        if self.action == "start" and self.customer_id is None:
            raise ValueError("a start names the customer whose promise it is")
        return self


def sla_instance_id(kind: SlaKind, subject_id: str) -> str:
    """The clock's orchestration instance id: one per promise, so a second start is the
    same clock. Characters an instance id may not hold (`/ \\ # ?`, controls) become `_`."""
    safe = "".join(ch if ch.isprintable() and ch not in "/\\#?" else "_" for ch in subject_id)
    return f"sla-{kind}-{safe}"


class WakeView(DomainModel):
    """What a running clock waits for next (shared.policy.sla.Wake, as data)."""

    at: UtcDateTime
    reason: Literal["at_risk", "breach", "escalate"]
    role: str | None = None


class ClockView(DomainModel):
    """A clock as its orchestration sees it: whether it is still open and what it waits for
    next (None: only a signal)."""

    kind: SlaKind
    subject_id: str
    phase: SlaPhase
    at_risk_at: UtcDateTime
    deadline: UtcDateTime
    next_wake: WakeView | None = None

    @property
    def open(self) -> bool:
        return self.phase in ("running", "paused")
