"""A licence change request turned into a plan: what the workflow does, in which order, for
how much, and the sentence that tells the customer why (docs/licence-changes.md).

Built on the NCE decisions of shared/policy/nce.py; the rules are cited from docs/rules.md:

* Seats up: the prorated charge for the rest of the billing period first, then the PATCH
  (docs/rules.md#add-seats, docs/rules.md#seat-increase-charge).
* Seats down inside the window of the seats removed: the PATCH, then the prorated credit;
  outside it, the next term's quantity scheduled and nothing credited; partly inside, the
  refundable seats now and the rest at renewal (docs/rules.md#seat-windows,
  docs/rules.md#remove-seats, docs/rules.md#seat-decrease-refund).
* A relative change (`change_by`) resolves against Partner Center's quantity now, or, for
  seats going at renewal, against the quantity already scheduled for the next term, so
  successive "one fewer" requests each take one more seat off.
* Cancel: only inside the cancellation window, with a refund of the rest of the billing
  period; outside it, refused with auto-renew off as the way to stop the subscription
  (docs/rules.md#cancel).
* Upgrade: at once, the price difference prorated and charged first, no window afterwards
  (docs/rules.md#upgrade); a downgrade is refused mid-term (docs/rules.md#downgrade).
* Approval: a change adding more seats, or charging more, than the partner's thresholds, and
  any cancellation (when so configured), waits for the partner's approval
  (docs/rules.md#change-approval).

`intake_refusal` is what the API refuses outright, on the book's copy, before anything
starts (422 naming the field and the rule); the workflow decides again on Partner Center's
fresh read when the change's turn comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.models.money import Money
from shared.models.subscription import SeatBatch, Subscription
from shared.policy.nce import (
    DEFAULT_RULES,
    Decision,
    NceRules,
    cancellation_window_end,
    decide_auto_renew,
    decide_cancel,
    decide_quantity,
    decide_scheduled_quantity,
)
from shared.policy.proration import prorate
from shared.policy.terms import billing_period_on, current_term_start

Step = Literal[
    "charge_then_patch",  # seats up: charge, PATCH (refund if the PATCH fails for good)
    "patch_then_credit",  # seats down inside their window: PATCH, then credit
    "patch_credit_and_schedule",  # the refundable seats now (credited), the rest at renewal
    "schedule",  # seats down outside their window: scheduledNextTermInstructions, no credit
    "set_auto_renew",
    "cancel_then_refund",  # inside the window: cancel, then refund the rest of the period
    "upgrade",  # eligibility, charge the difference, transition
    "hold",  # renewal lock or renewal processing: wait until `retry_at`, then decide again
    "no_change",
    "refuse",
]


@dataclass(frozen=True)
class ApprovalThresholds:
    """Above these a change waits for the partner's approval (docs/rules.md#change-approval).
    None: no threshold of that kind."""

    seats_added: int | None = None
    amount_minor: int | None = None
    cancellation: bool = True


@dataclass(frozen=True)
class Plan:
    step: Step
    rule: str
    reason: str
    quantity_now: int | None = None
    quantity_at_renewal: int | None = None
    seats_added: int = 0
    seats_removed_now: int = 0
    retry_at: datetime | None = None
    effective_at: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """A request the rules refuse outright: the field at fault, the rule, why."""

    field: str
    rule: str
    detail: str


def _plan_of(decision: Decision, step: Step, **fields: object) -> Plan:
    values: dict[str, object] = {"rule": decision.rule, "reason": decision.reason, **fields}
    return Plan(step=step, **values)  # type: ignore[arg-type]


def _held_or_refused(decision: Decision) -> Plan:
    if decision.action == "wait":
        return _plan_of(decision, "hold", retry_at=decision.retry_at)
    if decision.action == "no_change":
        return _plan_of(decision, "no_change")
    return _plan_of(decision, "refuse")


def next_term_quantity(sub: Subscription) -> int:
    """The quantity the next term starts with: what is scheduled, else today's."""
    scheduled = sub.scheduled_next_term_instructions
    return scheduled.quantity if scheduled is not None else sub.quantity


def plan_quantity(
    sub: Subscription,
    now: datetime,
    *,
    quantity: int | None = None,
    change_by: int | None = None,
    batches: tuple[SeatBatch, ...] = (),
    rules: NceRules = DEFAULT_RULES,
) -> Plan:
    """Seats to `quantity`, or by `change_by`, on Partner Center's subscription as read now."""
    if change_by is not None:
        target = sub.quantity + change_by
    elif quantity is not None:
        target = quantity
    else:
        raise ValueError("a quantity change gives quantity or change_by")
    decision = decide_quantity(sub, target, now, batches, rules)
    if decision.action == "apply_now" and target > sub.quantity:
        return _plan_of(
            decision,
            "charge_then_patch",
            quantity_now=target,
            seats_added=target - sub.quantity,
            effective_at=now,
        )
    if decision.action == "apply_now":
        return _plan_of(
            decision,
            "patch_then_credit",
            quantity_now=target,
            seats_removed_now=sub.quantity - target,
            effective_at=now,
            reason=removal_sentence(sub, now, batches, rules),
        )
    if decision.action == "apply_now_and_schedule":
        assert decision.quantity_now is not None and decision.quantity_at_renewal is not None
        return _plan_of(
            decision,
            "patch_credit_and_schedule",
            quantity_now=decision.quantity_now,
            quantity_at_renewal=decision.quantity_at_renewal,
            seats_removed_now=sub.quantity - decision.quantity_now,
            effective_at=now,
            reason=removal_sentence(sub, now, batches, rules),
        )
    if decision.action == "schedule_for_renewal":
        if change_by is not None:
            # Seats already going at renewal stay going: this one comes off what is left.
            target = next_term_quantity(sub) + change_by
            decision = decide_scheduled_quantity(sub, target, now, rules)
            if decision.action != "schedule_for_renewal":
                return _held_or_refused(decision)
        return Plan(
            step="schedule",
            rule=decision.rule,
            reason=removal_sentence(sub, now, batches, rules),
            quantity_at_renewal=target,
            effective_at=sub.term_end,
        )
    return _held_or_refused(decision)


def plan_cancel(sub: Subscription, now: datetime, rules: NceRules = DEFAULT_RULES) -> Plan:
    decision = decide_cancel(sub, now, rules)
    if decision.action == "apply_now":
        return _plan_of(
            decision,
            "cancel_then_refund",
            quantity_now=0,
            seats_removed_now=sub.quantity,
            effective_at=now,
            reason=f"a cancellation is possible until {when(cancellation_window_end(sub, rules))}",
        )
    if decision.action == "schedule_for_renewal":
        return Plan(
            step="refuse",
            rule="cancel",
            reason=f"the cancellation window closed on {when(cancellation_window_end(sub, rules))}"
            "; turn auto-renew off so the subscription ends at its term end",
        )
    return _held_or_refused(decision)


def plan_auto_renew(
    sub: Subscription, enabled: bool, now: datetime, rules: NceRules = DEFAULT_RULES
) -> Plan:
    decision = decide_auto_renew(sub, enabled, now, rules)
    if decision.action == "apply_now":
        return _plan_of(decision, "set_auto_renew", effective_at=now)
    if decision.rule == "renewal-lock":
        # Never lost: held past the renewal, then decided again on the new term.
        return Plan(
            step="hold",
            rule="renewal-lock",
            reason=decision.reason + "; held until the renewal is done",
            retry_at=sub.term_end + rules.renewal_processing,
        )
    return _held_or_refused(decision)


def prorated_amount(unit_price: Money, sub: Subscription, now: datetime, seats: int) -> Money:
    """`seats` at `unit_price` (per seat per billing period) for the rest of the billing
    period that holds `now` (docs/rules.md#seat-increase-charge,
    docs/rules.md#seat-decrease-refund)."""
    period = billing_period_on(
        current_term_start(sub).date(), sub.term_duration, sub.billing_cycle, now.date()
    )
    return prorate(unit_price, period, now.date(), seats)


def approval_needed(
    plan: Plan, kind: str, amount: Money | None, thresholds: ApprovalThresholds
) -> str | None:
    """Why the change waits for the partner's approval, or None."""
    if kind == "cancel" and plan.step == "cancel_then_refund" and thresholds.cancellation:
        return "every cancellation is approved by the partner"
    if thresholds.seats_added is not None and plan.seats_added > thresholds.seats_added:
        return f"{plan.seats_added} seats added, above the {thresholds.seats_added} allowed"
    if (
        thresholds.amount_minor is not None
        and amount is not None
        and amount.amount_minor > thresholds.amount_minor
    ):
        limit = Money(amount_minor=thresholds.amount_minor, currency=amount.currency)
        return f"a charge of {amount} is above the {limit} allowed"
    return None


def removal_sentence(
    sub: Subscription,
    now: datetime,
    batches: tuple[SeatBatch, ...] = (),
    rules: NceRules = DEFAULT_RULES,
) -> str:
    """Until when which seats can be removed for a refund, as the customer reads it: "seats
    added on 3 Nov can be removed until 10 Nov 14:02 UTC" (Partner Center's
    `refundableQuantity` first, docs/rules.md#partner-center-dates-win)."""
    windows: list[tuple[int, datetime]] = []
    if sub.refundable_quantity is not None and sub.refundable_quantity.details:
        windows = [(b.quantity, b.allowed_until_date_time) for b in sub.refundable_quantity.details]
    elif batches:
        windows = [(b.quantity, b.added_at + rules.cancellation_window) for b in batches]
    else:
        windows = [(sub.quantity, cancellation_window_end(sub, rules))]
    open_ = [(q, until) for q, until in windows if now < until and q > 0]
    if open_:
        return "; ".join(
            f"{q} seat{'s' if q != 1 else ''} added on {day(until - rules.cancellation_window)} "
            f"can be removed until {when(until)}"
            for q, until in sorted(open_, key=lambda w: w[1])
        )
    closed = max(until for _, until in windows)
    return (
        f"no seats can be removed for a refund now: the last window closed on {when(closed)}; "
        f"the change takes effect when the next term starts on {day(sub.term_end)}"
    )


def intake_refusal(
    sub: Subscription,
    now: datetime,
    *,
    kind: str,
    quantity: int | None = None,
    change_by: int | None = None,
    upgrade_allowed: bool | None = None,
    max_quantity: int | None = None,
    rules: NceRules = DEFAULT_RULES,
) -> Refusal | None:
    """What the rules refuse outright on the book's copy of the subscription, before anything
    starts. `upgrade_allowed`: whether the target offer is an upgrade of the subscription's
    (None when the caller could not tell; the workflow asks Partner Center). `max_quantity`:
    the most seats one subscription of its offer may hold (docs/rules.md#seat-limits; None
    when the catalogue does not say)."""
    if kind == "quantity" and max_quantity is not None:
        wanted = quantity if quantity is not None else sub.quantity + (change_by or 0)
        if wanted > max_quantity:
            return Refusal(
                "quantity" if quantity is not None else "change_by",
                "seat-limits",
                f"one subscription of this offer holds at most {max_quantity} seats, not {wanted}",
            )
    if kind == "quantity":
        if quantity is not None and quantity < 1:
            return Refusal(
                "quantity", "remove-seats", "quantity must be at least 1; cancel instead"
            )
        if change_by is not None and sub.quantity + change_by < 1 and change_by < 0:
            return Refusal(
                "change_by", "remove-seats", "a subscription keeps at least 1 seat; cancel instead"
            )
    if sub.status == "suspended":
        return Refusal(
            "subscription_id", "suspend", "the subscription is suspended: reactivate it first"
        )
    if sub.status != "active":
        return Refusal("subscription_id", "stale-copy", f"the subscription is {sub.status}")
    if kind == "upgrade" and upgrade_allowed is False:
        return Refusal(
            "target_catalog_item_id",
            "downgrade",
            "the subscription cannot move to that offer mid-term: only upgrades within the "
            "product family are possible; a downgrade is scheduled at renewal",
        )
    if kind == "cancel":
        plan = plan_cancel(sub, now, rules)
        if plan.step == "refuse" and plan.rule == "cancel":
            return Refusal("kind", "cancel", plan.reason)
    return None


def day(at: datetime) -> str:
    """`3 Nov 2026`."""
    return f"{at.day} {at.strftime('%b %Y')}"


def when(at: datetime) -> str:
    """`10 Nov 2026 14:02 UTC`."""
    return f"{day(at)} {at.strftime('%H:%M')} UTC"
