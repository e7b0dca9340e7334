"""Renewal reminders, the decision deadline, and what happens when the customer says nothing.

The rules and their sources are in docs/rules.md, section "Renewal".

* Partner Center has no renewal webhook: reminders come from our own sweep over
  `commitmentEndDate`, `autoRenewEnabled` and `scheduledNextTermInstructions`
  (docs/rules.md#no-renewal-webhook).
* The last moment a decision can be applied is the renewal lock (24 h before the term end,
  docs/rules.md#renewal-lock); cspflow promises to apply it at least `apply_margin` (24 h)
  before the lock, so the customer's decision deadline is lock - apply_margin
  (docs/rules.md#decision-deadline).
* Annual and triennial terms get reminders 60, 30 and 7 days before that deadline (after
  channel practice: Appxite 60/35/7, Ingram 90/60/30 lists; docs/rules.md#reminder-cadence).
  A monthly term that simply rolls over gets a reminder only when there is something to
  decide: a requested change, spare seats, the customer in dunning, or the customer asked
  (docs/rules.md#monthly-reminders).
* The next term is what Partner Center's `scheduledNextTermInstructions` say when the
  subscription has them, else the current offer, term, billing and quantity; it happens only
  for an active subscription with auto-renew on (docs/rules.md#next-term).
* No answer keeps auto-renew as it is, except for a customer in dunning: the partner would owe
  Microsoft a new term the customer cannot pay (after day 7 it cannot be cancelled), so
  auto-renew is turned off (docs/rules.md#no-answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from shared.models.catalog import BillingCycleName, TermDuration, offer_key
from shared.models.subscription import Subscription
from shared.policy.nce import DEFAULT_RULES as DEFAULT_NCE_RULES
from shared.policy.nce import NceRules
from shared.policy.terms import current_term_start

DAY = timedelta(days=1)


@dataclass(frozen=True)
class RenewalRules:
    long_term_offsets: tuple[timedelta, ...] = (60 * DAY, 30 * DAY, 7 * DAY)
    monthly_offsets: tuple[timedelta, ...] = (7 * DAY,)
    apply_margin: timedelta = timedelta(hours=24)
    nce: NceRules = DEFAULT_NCE_RULES


DEFAULT_RULES = RenewalRules()


@dataclass(frozen=True)
class RenewalContext:
    """What cspflow knows about the customer beyond the subscription itself."""

    customer_in_dunning: bool = False
    change_requested: bool = False
    spare_seats: int = 0  # seats bought but not assigned to users
    customer_asked: bool = False  # opted in to reminders for every term
    # The customer's own offsets for annual and three-year terms, over the partner's
    # (`RenewalRules.long_term_offsets`); None: the partner's.
    reminder_offsets: tuple[timedelta, ...] | None = None


@dataclass(frozen=True)
class Reminder:
    at: datetime
    before_deadline: timedelta
    deadline: datetime


Outcome = Literal["renew", "renew_with_changes", "turn_off_auto_renew", "expire"]


@dataclass(frozen=True)
class DefaultOutcome:
    action: Outcome
    reason: str


AnswerWindow = Literal["open", "late", "too_late"]


def renewal_lock_at(sub: Subscription, rules: RenewalRules = DEFAULT_RULES) -> datetime:
    return sub.term_end - rules.nce.renewal_lock


def decision_deadline(sub: Subscription, rules: RenewalRules = DEFAULT_RULES) -> datetime:
    """The last moment a customer's answer is taken with the full apply margin."""
    return renewal_lock_at(sub, rules) - rules.apply_margin


def something_to_decide(sub: Subscription, ctx: RenewalContext) -> bool:
    """Whether a renewal is more than a routine roll-over."""
    rolls_over = sub.auto_renew_enabled and sub.scheduled_next_term_instructions is None
    return (
        not rolls_over
        or ctx.change_requested
        or ctx.spare_seats > 0
        or ctx.customer_in_dunning
        or ctx.customer_asked
    )


def reminder_schedule(
    sub: Subscription, ctx: RenewalContext, rules: RenewalRules = DEFAULT_RULES
) -> tuple[Reminder, ...]:
    """Every reminder this term gets, earliest first (empty when none is warranted)."""
    if sub.status != "active":
        return ()
    if sub.term_duration == "P1M":
        if not something_to_decide(sub, ctx):
            return ()
        offsets = rules.monthly_offsets
    else:
        offsets = rules.long_term_offsets if ctx.reminder_offsets is None else ctx.reminder_offsets
    deadline = decision_deadline(sub, rules)
    term_start = current_term_start(sub)
    reminders = [Reminder(deadline - offset, offset, deadline) for offset in offsets]
    return tuple(sorted((r for r in reminders if r.at >= term_start), key=lambda r: r.at))


def due_reminder(
    sub: Subscription,
    ctx: RenewalContext,
    now: datetime,
    last_sent_at: datetime | None,
    rules: RenewalRules = DEFAULT_RULES,
) -> Reminder | None:
    """The reminder to send now, if any. A late sweep sends only the most recent one."""
    due = [
        r
        for r in reminder_schedule(sub, ctx, rules)
        if r.at <= now < r.deadline and (last_sent_at is None or r.at > last_sent_at)
    ]
    return due[-1] if due else None


def answer_window(
    sub: Subscription, now: datetime, rules: RenewalRules = DEFAULT_RULES
) -> AnswerWindow:
    """open: before the deadline; late: can still be applied before the lock; too_late."""
    if now < decision_deadline(sub, rules):
        return "open"
    if now < renewal_lock_at(sub, rules):
        return "late"
    return "too_late"


def outcome_without_answer(sub: Subscription, ctx: RenewalContext) -> DefaultOutcome:
    """What cspflow applies at the deadline when the customer did not answer."""
    if not sub.auto_renew_enabled:
        return DefaultOutcome("expire", "auto-renew is off: the subscription ends at term end")
    if ctx.customer_in_dunning:
        return DefaultOutcome(
            "turn_off_auto_renew",
            "the customer is in dunning: do not commit the partner to a term it cannot bill",
        )
    if sub.scheduled_next_term_instructions is not None:
        return DefaultOutcome("renew_with_changes", "renew with the changes already scheduled")
    return DefaultOutcome("renew", "no answer keeps auto-renew on")


@dataclass(frozen=True)
class NextTerm:
    """What the subscription becomes at its term end, if it renews."""

    renews: bool
    catalog_item_id: str
    term_duration: TermDuration
    billing_cycle: BillingCycleName
    quantity: int
    scheduled: bool  # from scheduledNextTermInstructions
    custom_term_end_date: date | None = None

    @property
    def offer_key(self) -> str:
        return offer_key(self.catalog_item_id, self.term_duration, self.billing_cycle)


def next_term(sub: Subscription) -> NextTerm:
    """The next term: the scheduled instructions when there are some, else the current plan
    (docs/rules.md#next-term)."""
    renews = sub.status == "active" and sub.auto_renew_enabled
    instructions = sub.scheduled_next_term_instructions
    if instructions is None:
        return NextTerm(
            renews=renews,
            catalog_item_id=sub.offer_id,
            term_duration=sub.term_duration,
            billing_cycle=sub.billing_cycle,
            quantity=sub.quantity,
            scheduled=False,
        )
    product = instructions.product
    return NextTerm(
        renews=renews,
        catalog_item_id=product.catalog_item_id,
        term_duration=product.term_duration,
        billing_cycle=product.billing_cycle,
        quantity=instructions.quantity,
        scheduled=True,
        custom_term_end_date=instructions.custom_term_end_date,
    )


# Answers that arrive late, and the next possible action --------------------------------------
Choice = Literal["renew", "renew_with_changes", "turn_off_auto_renew"]


@dataclass(frozen=True)
class AnswerTaken:
    """Whether a customer's answer is still taken for this renewal; when not, why, and what
    the customer can still do (and until when)."""

    accepted: bool
    reason: str
    rule: str  # the docs/rules.md anchor that decided
    next_action: str | None = None
    next_action_until: datetime | None = None
    # The next action as a notice names it (shared/notifications/kinds.NextStep).
    next_step: NextStep | None = None


NextStep = Literal["cancel_in_window", "remove_seats_in_window", "buy_again"]


def take_answer(
    sub: Subscription, choice: Choice, now: datetime, rules: RenewalRules = DEFAULT_RULES
) -> AnswerTaken:
    """An answer before the decision deadline is taken; after it and before the renewal lock
    it is still taken (applied before the lock, without the full margin); once the lock has
    begun it is refused with the next possible action (docs/rules.md#decision-deadline,
    docs/rules.md#renewal-lock, docs/rules.md#cancellation-window)."""
    window = answer_window(sub, now, rules)
    if window == "open":
        return AnswerTaken(True, "before the decision deadline", "decision-deadline")
    if window == "late":
        return AnswerTaken(
            True,
            "after the decision deadline but before the renewal lock: applied at once",
            "decision-deadline",
        )
    renews = sub.status == "active" and sub.auto_renew_enabled
    window_end = sub.term_end + rules.nce.renewal_processing + rules.nce.cancellation_window
    locked = "the renewal lock has begun (24 h before the term ends): nothing can change now"
    if choice == "turn_off_auto_renew":
        if not renews:
            return AnswerTaken(True, "the subscription already ends at term end", "renewal-lock")
        return AnswerTaken(
            False,
            locked,
            "renewal-lock",
            next_action=(
                "cancel inside the new term's 7-day cancellation window: Microsoft refunds the "
                "new term less the days it ran, which are billed"
            ),
            next_action_until=window_end,
            next_step="cancel_in_window",
        )
    if choice == "renew_with_changes":
        return AnswerTaken(
            False,
            locked,
            "renewal-lock",
            next_action=(
                "add seats or upgrade at any time in the new term; remove seats only inside "
                "its 7-day window (the days they ran are billed)"
            ),
            next_action_until=window_end if renews else None,
            next_step="remove_seats_in_window" if renews else "buy_again",
        )
    if renews:
        return AnswerTaken(True, "the subscription renews as it is", "renewal-lock")
    return AnswerTaken(
        False,
        locked,
        "renewal-lock",
        next_action="buy the subscription again once this term has ended",
        next_step="buy_again",
    )


# Confirmation after the term end ---------------------------------------------------------------
Result = Literal["renewed", "changed", "cancelled", "lapsed"]


@dataclass(frozen=True)
class Confirmation:
    """What Partner Center's copy of the subscription says about the renewal of the term that
    ended at `term_end`: settled or still processing, the outcome, and whether it went
    against the customer's recorded decision."""

    settled: bool
    outcome: Result | None = None
    against_decision: bool = False
    reason: str = ""


def confirm_renewal(
    term_end: datetime,
    before: NextTerm,
    decision: Outcome | None,
    read: Subscription,
    now: datetime,
    rules: RenewalRules = DEFAULT_RULES,
) -> Confirmation:
    """Renewed when the term end moved past `term_end` (changed when the new term is not
    the plan `before` had); cancelled or lapsed when the subscription ended (expired,
    deleted, disabled, or auto-renew still off once renewal processing is over); otherwise
    renewal is still processing (docs/rules.md#renewal-processing). `before` is the next term
    as the last read before the term end described it."""
    wanted_renewal = decision in ("renew", "renew_with_changes")
    if read.term_end > term_end:
        same = (
            read.offer_id == before.catalog_item_id
            and read.term_duration == before.term_duration
            and read.billing_cycle == before.billing_cycle
            and read.quantity == before.quantity
        )
        changed = decision == "renew_with_changes" or not same
        return Confirmation(
            True,
            "changed" if changed else "renewed",
            against_decision=decision in ("turn_off_auto_renew", "expire"),
            reason="the term end moved to the next term",
        )
    ended = read.status in ("expired", "deleted", "disabled")
    processed = now >= term_end + rules.nce.renewal_processing
    if ended or (processed and not read.auto_renew_enabled):
        return Confirmation(
            True,
            "cancelled" if decision == "turn_off_auto_renew" else "lapsed",
            against_decision=wanted_renewal,
            reason=f"the subscription is {read.status} and did not renew",
        )
    return Confirmation(False, reason="renewal processing has not finished")


# What applying a decision writes ---------------------------------------------------------------
@dataclass(frozen=True)
class RenewalWrites:
    """The Partner Center writes that make a decision hold: auto-renew set to `auto_renew`
    (None: as it is), the next term scheduled as `schedule` (None: as it is). Not `possible`
    once the renewal lock has begun (`reason`, `rule`)."""

    possible: bool
    reason: str
    rule: str
    auto_renew: bool | None = None
    schedule: NextTerm | None = None


def scheduled_as(sub: Subscription, wanted: NextTerm) -> bool:
    """Whether Partner Center's scheduled instructions already describe `wanted`."""
    have = sub.scheduled_next_term_instructions
    if have is None:
        return False
    return (
        have.product.catalog_item_id == wanted.catalog_item_id
        and have.product.term_duration == wanted.term_duration
        and have.product.billing_cycle == wanted.billing_cycle
        and have.quantity == wanted.quantity
    )


def renewal_writes(
    sub: Subscription,
    decision: Outcome,
    wanted: NextTerm,
    now: datetime,
    rules: RenewalRules = DEFAULT_RULES,
) -> RenewalWrites:
    """From Partner Center's fresh copy: auto-renew off for a cancellation (or a term left to
    expire), the next term's instructions for a change (they need auto-renew on and are not
    written again when they already hold; written again when a mid-term change wiped them),
    auto-renew on for a renewal; nothing once the lock has begun
    (docs/rules.md#renewal-lock, docs/rules.md#cancel, docs/rules.md#scheduled-changes-dropped)."""
    if now >= renewal_lock_at(sub, rules) or now >= sub.term_end:
        return RenewalWrites(
            False, "the renewal lock has begun: too late to change the renewal", "renewal-lock"
        )
    if decision in ("turn_off_auto_renew", "expire"):
        return RenewalWrites(
            True, "auto-renew off", "cancel", auto_renew=False if sub.auto_renew_enabled else None
        )
    if decision == "renew_with_changes" and wanted.scheduled:
        schedule = None if scheduled_as(sub, wanted) else wanted
        return RenewalWrites(
            True, "the next term scheduled", "scheduled-changes-dropped", schedule=schedule
        )
    return RenewalWrites(
        True, "auto-renew on", "auto-renew", auto_renew=True if not sub.auto_renew_enabled else None
    )
