"""NCE change rules: what a requested licence change becomes, given the subscription and now.

The rules, each with its Microsoft Learn source, are in docs/rules.md, section "NCE changes".
In short:

* Seats can be added at any time; they are prorated to the term end (coterminous)
  (docs/rules.md#add-seats).
* Seats can be removed, or the subscription cancelled, only within 7 days (168 h) of the
  purchase or renewal that brought them, each mid-term addition with its own window
  (docs/rules.md#cancellation-window, docs/rules.md#seat-windows). Partner Center's
  `cancellationAllowedUntilDate` and `refundableQuantity` say so exactly and win; our own
  arithmetic (term start or recorded seat batches + 168 h) is only a fallback
  (docs/rules.md#partner-center-dates-win).
* Outside the window a decrease is scheduled for the next term (`scheduledNextTermInstructions`,
  which requires auto-renew on), and a cancellation becomes "auto-renew off"
  (docs/rules.md#remove-seats, docs/rules.md#cancel).
* Upgrades (a higher SKU of the same family) apply at once, with no cancellation window;
  downgrades are not supported mid-term, only as a different product at renewal
  (docs/rules.md#upgrade, docs/rules.md#downgrade).
* Suspension blocks access at once, turns auto-renew off and does not stop Microsoft's billing;
  a suspended subscription can be reactivated until its term ends (docs/rules.md#suspend,
  docs/rules.md#reactivate).
* A mid-term change (quantity, upgrade, auto-renew off, suspension) deletes the changes
  scheduled for renewal. Such a decision says so, so the caller can schedule them again or
  tell the customer (docs/rules.md#scheduled-changes-dropped).
* Renewal lock: Microsoft documents none; a distributor's reading is that the subscription is
  locked for the last 24 h of the term. Renewal processing starts 00:00 UTC the day after the
  end date and can take up to 24 h (409 while queued). cspflow is conservative: renewal
  settings are not changed inside the lock, and nothing is changed while renewal processes
  (docs/rules.md#renewal-lock, docs/rules.md#renewal-processing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from shared.models.catalog import TERM_MONTHS, Offer
from shared.models.subscription import SeatBatch, Subscription
from shared.policy.terms import current_term_start


@dataclass(frozen=True)
class NceRules:
    cancellation_window: timedelta = timedelta(hours=168)
    renewal_lock: timedelta = timedelta(hours=24)
    renewal_processing: timedelta = timedelta(hours=24)


DEFAULT_RULES = NceRules()

Action = Literal[
    "apply_now",  # call Partner Center now
    "apply_now_and_schedule",  # remove the refundable seats now, the rest at renewal
    "schedule_for_renewal",  # scheduledNextTermInstructions (or auto-renew off for a cancel)
    "wait",  # try again at `retry_at` (renewal lock or renewal processing)
    "no_change",  # already in the requested state
    "refuse",  # not possible under NCE; `reason` says why
]

Phase = Literal["open", "locked", "renewing", "ended"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    # The docs/rules.md anchor of the rule that decided (`seat-windows`, `renewal-lock`...).
    rule: str
    # For quantity changes: the quantity to PATCH now and the one to schedule for the next term.
    quantity_now: int | None = None
    quantity_at_renewal: int | None = None
    # The charge or refund for seats changed now is prorated to the term end.
    prorated: bool = False
    retry_at: datetime | None = None
    # Applying this now deletes the subscription's scheduledNextTermInstructions.
    drops_scheduled_changes: bool = False


def _mid_term(sub: Subscription, decision: Decision) -> Decision:
    """`decision`, marked when applying it now deletes the changes scheduled for renewal."""
    return replace(
        decision, drops_scheduled_changes=sub.scheduled_next_term_instructions is not None
    )


def renewal_phase(sub: Subscription, now: datetime, rules: NceRules = DEFAULT_RULES) -> Phase:
    """Where `now` falls against the term this copy of the subscription describes.

    open; locked (the last `renewal_lock` of the term); renewing (up to `renewal_processing`
    after its end); ended (later still: this copy is stale, or the term lapsed without renewal).
    """
    end = sub.term_end
    if now >= end + rules.renewal_processing:
        return "ended"
    if now >= end:
        return "renewing"
    if now >= end - rules.renewal_lock:
        return "locked"
    return "open"


def _after_renewal(sub: Subscription, rules: NceRules) -> datetime:
    return sub.term_end + rules.renewal_processing


def _after_the_lock(sub: Subscription, rules: NceRules, then: str) -> Decision:
    return Decision(
        "wait",
        f"the renewal lock has begun, too late for this renewal; {then}",
        rule="renewal-lock",
        retry_at=_after_renewal(sub, rules),
    )


def cancellation_window_end(sub: Subscription, rules: NceRules = DEFAULT_RULES) -> datetime:
    """When cancelling stops being possible for the current term."""
    if sub.cancellation_allowed_until_date is not None:
        return sub.cancellation_allowed_until_date
    return current_term_start(sub) + rules.cancellation_window


def refundable_seats(
    sub: Subscription,
    now: datetime,
    batches: Sequence[SeatBatch] = (),
    rules: NceRules = DEFAULT_RULES,
) -> int:
    """Seats that can still be removed for a refund at `now`.

    Partner Center's `refundableQuantity.details` first (each batch with its own deadline);
    then the seat batches cspflow recorded (added_at + 168 h each); then, with neither, the
    whole quantity while the current term's window is open.
    """
    if sub.refundable_quantity is not None:
        details = sub.refundable_quantity.details
        if details:
            seats = sum(b.quantity for b in details if now < b.allowed_until_date_time)
        else:
            seats = (
                sub.refundable_quantity.total_quantity
                if now < cancellation_window_end(sub, rules)
                else 0
            )
    elif batches:
        seats = sum(b.quantity for b in batches if now < b.added_at + rules.cancellation_window)
    else:
        seats = sub.quantity if now < cancellation_window_end(sub, rules) else 0
    return min(seats, sub.quantity)


def _blocked(sub: Subscription, now: datetime, rules: NceRules) -> Decision | None:
    """The answer when the subscription cannot be changed at all right now, else None."""
    phase = renewal_phase(sub, now, rules)
    if phase == "renewing":
        return Decision(
            "wait",
            "renewal is processing (up to 24 h after the term end); Partner Center answers 409",
            rule="renewal-processing",
            retry_at=_after_renewal(sub, rules),
        )
    if phase == "ended":
        return Decision(
            "refuse",
            "this copy describes a term that has ended: read the subscription from Partner "
            "Center again (it renewed, or it lapsed)",
            rule="stale-copy",
        )
    return None


def decide_quantity(
    sub: Subscription,
    new_quantity: int,
    now: datetime,
    batches: Sequence[SeatBatch] = (),
    rules: NceRules = DEFAULT_RULES,
) -> Decision:
    """A request to set the seat count to `new_quantity`."""
    if new_quantity < 1:
        return Decision(
            "refuse",
            "quantity must be at least 1; cancel the subscription instead",
            rule="remove-seats",
        )
    if sub.status != "active":
        return Decision(
            "refuse",
            f"quantity cannot change while the subscription is {sub.status}",
            rule="add-seats" if new_quantity > sub.quantity else "remove-seats",
        )
    if new_quantity == sub.quantity:
        return Decision(
            "no_change", "the subscription already has that many seats", rule="remove-seats"
        )
    blocked = _blocked(sub, now, rules)
    if blocked:
        return blocked
    if new_quantity > sub.quantity:
        return _mid_term(
            sub,
            Decision(
                "apply_now",
                "seats can be added at any time, prorated to the term end",
                rule="add-seats",
                quantity_now=new_quantity,
                prorated=True,
            ),
        )
    removal = sub.quantity - new_quantity
    refundable = refundable_seats(sub, now, batches, rules)
    if refundable >= removal:
        return _mid_term(
            sub,
            Decision(
                "apply_now",
                "the seats are inside their 168 h cancellation window",
                rule="seat-windows",
                quantity_now=new_quantity,
                prorated=True,
            ),
        )
    if renewal_phase(sub, now, rules) == "locked":
        return _after_the_lock(sub, rules, "ask again in the new term's 168 h window")
    if not sub.auto_renew_enabled:
        return Decision(
            "refuse",
            "auto-renew is off, so the subscription ends at its term end; "
            "turn auto-renew on to schedule a smaller next term",
            rule="remove-seats",
        )
    if refundable > 0:
        return _mid_term(
            sub,
            Decision(
                "apply_now_and_schedule",
                f"{refundable} seats are still inside their window; the rest go at renewal",
                rule="remove-seats",
                quantity_now=sub.quantity - refundable,
                quantity_at_renewal=new_quantity,
                prorated=True,
            ),
        )
    return Decision(
        "schedule_for_renewal",
        "outside the 168 h window a decrease applies at the next term",
        rule="remove-seats",
        quantity_at_renewal=new_quantity,
    )


def decide_scheduled_quantity(
    sub: Subscription, new_quantity: int, now: datetime, rules: NceRules = DEFAULT_RULES
) -> Decision:
    """A request to give the next term `new_quantity` seats, whatever the current term has:
    `scheduledNextTermInstructions`, which Partner Center accepts only for an active
    subscription with auto-renew on, until the renewal lock (docs/rules.md#remove-seats,
    docs/rules.md#renewal-lock). Scheduling drops nothing already scheduled
    (docs/rules.md#scheduled-changes-dropped)."""
    if new_quantity < 1:
        return Decision(
            "refuse",
            "a next term needs at least 1 seat; turn auto-renew off to end the subscription",
            rule="remove-seats",
        )
    if sub.status != "active":
        return Decision(
            "refuse",
            f"nothing can be scheduled while the subscription is {sub.status}",
            rule="remove-seats",
        )
    blocked = _blocked(sub, now, rules)
    if blocked:
        return blocked
    if renewal_phase(sub, now, rules) == "locked":
        return _after_the_lock(sub, rules, "schedule for the term after")
    if not sub.auto_renew_enabled:
        return Decision(
            "refuse",
            "auto-renew is off, so there is no next term to schedule; turn it on first",
            rule="remove-seats",
        )
    return Decision(
        "schedule_for_renewal",
        "the next term's quantity is scheduled through scheduledNextTermInstructions",
        rule="remove-seats",
        quantity_at_renewal=new_quantity,
    )


def decide_cancel(sub: Subscription, now: datetime, rules: NceRules = DEFAULT_RULES) -> Decision:
    """A request to cancel the subscription."""
    if sub.status == "deleted":
        return Decision("no_change", "the subscription is already cancelled", rule="cancel")
    if sub.status not in ("active", "suspended"):
        return Decision("refuse", f"a {sub.status} subscription cannot be cancelled", rule="cancel")
    blocked = _blocked(sub, now, rules)
    if blocked:
        return blocked
    if now < cancellation_window_end(sub, rules):
        return Decision(
            "apply_now",
            "inside the 168 h window: cancel with a prorated refund",
            rule="cancellation-window",
            prorated=True,
        )
    if renewal_phase(sub, now, rules) == "locked":
        return _after_the_lock(sub, rules, "cancel inside the new term's 168 h window")
    if not sub.auto_renew_enabled:
        return Decision(
            "no_change",
            "auto-renew is already off: the subscription ends at term end",
            rule="cancel",
        )
    return Decision(
        "schedule_for_renewal",
        "outside the 168 h window: turn auto-renew off so the subscription ends at term end",
        rule="cancel",
    )


def decide_sku_change(
    sub: Subscription,
    current: Offer,
    target: Offer,
    now: datetime,
    rules: NceRules = DEFAULT_RULES,
) -> Decision:
    """A request to move the subscription from `current` to `target`."""
    if target.catalog_item_id == current.catalog_item_id:
        return Decision("no_change", "the subscription is already on that offer", rule="upgrade")
    if target.family != current.family:
        return Decision(
            "refuse", "there is no transition between different product families", rule="upgrade"
        )
    if sub.status != "active":
        return Decision("refuse", "only active subscriptions can change SKU", rule="upgrade")
    blocked = _blocked(sub, now, rules)
    if blocked:
        return blocked
    if target.rank > current.rank:
        if TERM_MONTHS[target.term_duration] < TERM_MONTHS[current.term_duration]:
            return Decision("refuse", "an upgrade cannot shorten the term", rule="upgrade")
        return _mid_term(
            sub,
            Decision(
                "apply_now",
                "upgrades apply at once, prorated, and cannot be undone (no cancellation window)",
                rule="upgrade",
                prorated=True,
            ),
        )
    if target.rank == current.rank:
        return Decision(
            "refuse", "the target is neither an upgrade nor a downgrade", rule="upgrade"
        )
    if renewal_phase(sub, now, rules) == "locked":
        return _after_the_lock(sub, rules, "the downgrade can be scheduled for the term after")
    if not sub.auto_renew_enabled:
        return Decision(
            "refuse",
            "a downgrade is scheduled for renewal, which needs auto-renew on",
            rule="downgrade",
        )
    return Decision(
        "schedule_for_renewal",
        "downgrades are not supported mid-term; at renewal",
        rule="downgrade",
    )


def decide_suspend(sub: Subscription, now: datetime, rules: NceRules = DEFAULT_RULES) -> Decision:
    if sub.status == "suspended":
        return Decision("no_change", "the subscription is already suspended", rule="suspend")
    if sub.status != "active":
        return Decision(
            "refuse", f"a {sub.status} subscription cannot be suspended", rule="suspend"
        )
    blocked = _blocked(sub, now, rules)
    if blocked:
        return blocked
    return _mid_term(
        sub,
        Decision(
            "apply_now",
            "suspension blocks access at once, turns auto-renew off and Microsoft keeps billing",
            rule="suspend",
        ),
    )


def decide_resume(sub: Subscription, now: datetime, rules: NceRules = DEFAULT_RULES) -> Decision:
    if sub.status == "active":
        return Decision("no_change", "the subscription is already active", rule="reactivate")
    if sub.status != "suspended":
        return Decision(
            "refuse", f"a {sub.status} subscription cannot be reactivated", rule="reactivate"
        )
    if now >= sub.term_end:
        return Decision(
            "refuse",
            "a subscription still suspended at its term end is disabled and cannot be "
            "reactivated; buy a new one",
            rule="reactivate",
        )
    return Decision(
        "apply_now",
        "reactivate, and send autoRenewEnabled again: suspension turned it off",
        rule="reactivate",
    )


def decide_auto_renew(
    sub: Subscription, enabled: bool, now: datetime, rules: NceRules = DEFAULT_RULES
) -> Decision:
    if sub.auto_renew_enabled == enabled:
        return Decision(
            "no_change", f"auto-renew is already {'on' if enabled else 'off'}", rule="auto-renew"
        )
    if sub.status != "active":
        return Decision(
            "refuse",
            f"auto-renew cannot change while the subscription is {sub.status}",
            rule="auto-renew",
        )
    blocked = _blocked(sub, now, rules)
    if blocked:
        return blocked
    if renewal_phase(sub, now, rules) == "locked":
        return Decision(
            "refuse",
            "renewal settings are locked for the last 24 h of the term",
            rule="renewal-lock",
        )
    decision = Decision(
        "apply_now", "renewal settings can change until the renewal lock", rule="auto-renew"
    )
    # Turning auto-renew off deletes the scheduled changes; turning it on finds none to keep.
    return _mid_term(sub, decision) if not enabled else decision
