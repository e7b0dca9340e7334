"""One renewal: a subscription's term end, the reminders sent for it, the customer's decision
and what Partner Center did. Keyed by subscription and term end, like the renewal workflow's
instance id, so a second sweep finds the same renewal.

Also the models that cross the renewal workflow's Durable boundaries (workflows/renewals.py)
and its API (triggers/renewals.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.catalog import BillingCycle, CatalogItemId, TermDuration
from shared.models.money import Money
from shared.models.subscription import ScheduledNextTermInstructions

RenewalDecision = Literal["renew", "renew_with_changes", "turn_off_auto_renew", "expire"]
RenewalDecidedBy = Literal["customer", "partner", "default"]
# renewed as it was; changed (renewed with changes); cancelled (auto-renew off by decision);
# lapsed (expired with auto-renew off and no decision, or against one).
RenewalOutcome = Literal["renewed", "changed", "cancelled", "lapsed"]
# What a customer or the partner chooses, as the link page and the API take it.
RenewalChoice = Literal["renew", "change", "cancel"]


class NextTermChange(DomainModel):
    """The next term a `change` decision asks for: each field left out stays as it is."""

    quantity: int | None = Field(default=None, ge=1, le=100_000)
    offer_id: CatalogItemId | None = None
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None


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
    # The next term a `renew_with_changes` decision asks for.
    change: NextTermChange | None = None
    # How many decisions were recorded (each one applied in turn), and the id of each signed
    # link a decision was taken through (a link decides once).
    decisions: int = Field(default=0, ge=0)
    used_links: tuple[str, ...] = ()
    # When the decision in force was applied in Partner Center, and what was done.
    applied_at: UtcDateTime | None = None
    applied: str | None = Field(default=None, max_length=500)
    # The decision in force could not be applied before the lock (Partner Center held it off,
    # 409 renewal processing, until the lock began): why, and the next possible action.
    refused: str | None = Field(default=None, max_length=500)
    # The next term as Partner Center held it once the decision was applied (what the
    # confirmation compares the renewed term with).
    expected: NextTermChange | None = None
    # The renewal went against the recorded decision (an ops alert was raised).
    against_decision: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Renewal:
        decided = (self.decision, self.decided_at, self.decided_by)
        if any(v is None for v in decided) and any(v is not None for v in decided):
            raise ValueError("decision, decided_at and decided_by are set together")
        if (self.outcome is None) != (self.closed_at is None):
            raise ValueError("outcome and closed_at are set together")
        if self.change is not None and self.decision != "renew_with_changes":
            raise ValueError("a change goes with the decision renew_with_changes")
        return self


def renewal_id(subscription_id: str, term_end_day: str) -> str:
    """The API's id of a renewal: `<subscription id>~<YYYYMMDD of the term end>`."""
    return f"{subscription_id}~{term_end_day}"


# The workflow's models ------------------------------------------------------------------------
class RenewalStart(DomainModel):
    """The renewal workflow's input: one subscription's term."""

    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    term_end: UtcDateTime


class ReminderAt(DomainModel):
    at: UtcDateTime
    days_before: int = Field(ge=0)


class RenewalPlan(DomainModel):
    """What the workflow waits for: the reminders still to send, the decision deadline, the
    renewal lock and the term end; whether a decision is already recorded."""

    reminders: tuple[ReminderAt, ...]
    deadline: UtcDateTime
    lock_at: UtcDateTime
    term_end: UtcDateTime
    decided: bool
    decisions: int = 0
    closed: bool = False
    # The customer's Partner Center tenant (the id Partner Center's subscription calls take).
    tenant_id: str = ""


class DecisionPlan(DomainModel):
    """What applying the decision in force writes in Partner Center (none when it already
    holds); not `possible` once the lock has begun or the term moved."""

    decision: RenewalDecision | None = None
    decided_by: RenewalDecidedBy | None = None
    decided_at: UtcDateTime | None = None
    possible: bool
    reason: str = Field(max_length=500)
    rule: str
    auto_renew: bool | None = None
    schedule: ScheduledNextTermInstructions | None = None


class ReminderResult(DomainModel):
    sent: bool
    reason: str = Field(max_length=500)


class DecisionApplied(DomainModel):
    """What the apply step did in Partner Center for the decision in force."""

    decision: RenewalDecision
    decided_by: RenewalDecidedBy
    applied: bool
    summary: str = Field(max_length=500)
    rule: str
    decided_at: UtcDateTime | None = None
    told_customer: bool = False


class RenewalConfirmed(DomainModel):
    settled: bool
    outcome: RenewalOutcome | None = None
    against_decision: bool = False
    summary: str = Field(default="", max_length=500)


class RenewalStatus(DomainModel):
    """The workflow's custom status."""

    phase: Literal["reminding", "held", "waiting_for_term_end", "confirming", "closed"]
    next_wake: UtcDateTime | None = None
    decision: RenewalDecision | None = None
    outcome: RenewalOutcome | None = None


class DecisionEvent(DomainModel):
    """The `decision` event the API and the link page raise once a decision is recorded."""

    decisions: int = Field(ge=1)


# The API's models -----------------------------------------------------------------------------
class DecisionRequest(DomainModel):
    """A decision for the next term: renew as it is, change it, or cancel at term end."""

    choice: RenewalChoice
    quantity: int | None = Field(default=None, ge=1, le=100_000)
    offer_id: CatalogItemId | None = None
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None

    @model_validator(mode="after")
    def _change_names_something(self) -> DecisionRequest:
        fields = (self.quantity, self.offer_id, self.term_duration, self.billing_cycle)
        if self.choice == "change" and all(v is None for v in fields):
            raise ValueError("a change names quantity, offer_id, term_duration or billing_cycle")
        if self.choice != "change" and any(v is not None for v in fields):
            raise ValueError(
                "only a change names quantity, offer_id, term_duration or billing_cycle"
            )
        return self


class RenewalView(DomainModel):
    """A renewal as the API and the link page show it."""

    renewal_id: str
    customer_id: str
    subscription_id: str
    product: str
    quantity: int
    term_duration: TermDuration
    term_end: UtcDateTime
    auto_renew: bool
    decision_deadline: UtcDateTime
    renewal_lock: UtcDateTime
    next_term_price: Money | None = None
    no_answer: str
    state: Literal["undecided", "decided", "closed"]
    decision: RenewalDecision | None = None
    decided_by: RenewalDecidedBy | None = None
    decided_at: UtcDateTime | None = None
    change: NextTermChange | None = None
    applied: str | None = None
    refused: str | None = None
    outcome: RenewalOutcome | None = None


class DecisionTaken(DomainModel):
    """The answer to a decision: taken (and applied by the workflow), or refused with why and
    what can still be done."""

    renewal: RenewalView
    accepted: bool
    reason: str
    rule: str
    next_action: str | None = None
    next_action_until: UtcDateTime | None = None
