"""What a person deciding about a subscription needs: where its term stands, which seats can
still be removed until when, and what can be done now, each with the rule that decided it.

Nothing here is a new rule. Each option is the decision the change itself would get from
shared/policy/nce.py (a quantity change, a cancellation, an auto-renew switch, a SKU change,
a suspension), so the answer never offers what the change would then refuse
(docs/rules.md#options-now). Each option names its docs/rules.md anchor.

* Seat windows follow the same sources, in the same order, as `nce.refundable_seats`:
  Partner Center's `refundableQuantity.details`, its `totalQuantity` until the cancellation
  window closes, cspflow's recorded seat batches, the whole quantity while the term's window
  is open (docs/rules.md#partner-center-dates-win, docs/rules.md#seat-windows). Never more
  seats than the subscription has: the windows that close first give way first, so the
  seats still open at any moment add up to what `refundable_seats` answers then.
* `until` is the moment an option stops being possible as stated (exclusive): the seat
  window that closes first for a removal, the cancellation window for a cancellation, the
  renewal lock for anything about the next term, the term end for the rest.
* A change that has to wait (renewal lock, renewal processing) is not possible now; its
  `possible_from` says when to ask again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.models.catalog import Offer
from shared.models.subscription import SeatBatch, Subscription
from shared.policy.nce import (
    Decision,
    cancellation_window_end,
    decide_auto_renew,
    decide_cancel,
    decide_quantity,
    decide_resume,
    decide_scheduled_quantity,
    decide_sku_change,
    decide_suspend,
    refundable_seats,
)
from shared.policy.renewal import (
    DEFAULT_RULES,
    AnswerWindow,
    DefaultOutcome,
    NextTerm,
    RenewalContext,
    RenewalRules,
    answer_window,
    decision_deadline,
    next_term,
    outcome_without_answer,
    renewal_lock_at,
)
from shared.policy.terms import current_term_start

OptionName = Literal[
    "add_seats",
    "remove_seats",
    "reduce_next_term",
    "cancel",
    "turn_off_auto_renew",
    "turn_on_auto_renew",
    "upgrade",
    "downgrade_next_term",
    "suspend",
    "reactivate",
]
WindowSource = Literal["partner_center", "seat_batches", "term"]


@dataclass(frozen=True)
class SeatWindow:
    """`quantity` seats that can be removed for a refund until `until` (exclusive)."""

    quantity: int
    until: datetime


@dataclass(frozen=True)
class SeatWindows:
    """The open windows, earliest close first, and where they come from."""

    source: WindowSource
    windows: tuple[SeatWindow, ...]

    @property
    def removable(self) -> int:
        return sum(w.quantity for w in self.windows)


@dataclass(frozen=True)
class Option:
    """One thing a person could do now, and whether they can."""

    name: OptionName
    possible: bool
    rule: str  # the docs/rules.md anchor that decided
    reason: str
    until: datetime | None = None  # possible until this moment (exclusive)
    possible_from: datetime | None = None  # not now, but ask again from then
    effect: Literal["now", "next_term"] | None = None
    seats: int | None = None  # seats that can be removed now / the next term's minimum cut
    targets: tuple[str, ...] = ()  # offer keys an upgrade or downgrade can go to
    prorated: bool = False
    drops_scheduled_changes: bool = False


@dataclass(frozen=True)
class Standing:
    """Everything `options_now` answers about one subscription at `now`."""

    term_start: datetime
    term_end: datetime
    cancellation_window_end: datetime
    seat_windows: SeatWindows
    refundable_now: int
    decision_deadline: datetime
    renewal_lock: datetime
    answer_window: AnswerWindow
    without_answer: DefaultOutcome
    next_term: NextTerm
    options: tuple[Option, ...]


def seat_windows(
    sub: Subscription,
    now: datetime,
    batches: Sequence[SeatBatch] = (),
    rules: RenewalRules = DEFAULT_RULES,
) -> SeatWindows:
    """The seats still removable for a refund, by the moment their window closes."""
    window_end = cancellation_window_end(sub, rules.nce)
    source: WindowSource
    if sub.refundable_quantity is not None:
        source = "partner_center"
        details = sub.refundable_quantity.details
        if details:
            raw = [(b.quantity, b.allowed_until_date_time) for b in details]
        else:
            raw = [(sub.refundable_quantity.total_quantity, window_end)]
    elif batches:
        source = "seat_batches"
        raw = [(b.quantity, b.added_at + rules.nce.cancellation_window) for b in batches]
    else:
        source = "term"
        raw = [(sub.quantity, window_end)]
    open_ = sorted((until, quantity) for quantity, until in raw if now < until and quantity > 0)
    # Cap the seats still open from each window on at the subscription's quantity: the
    # windows closing first give way, so every later moment's total stays exact.
    windows: list[SeatWindow] = []
    for i, (until, _) in enumerate(open_):
        here = min(sum(q for _, q in open_[i:]), sub.quantity)
        after = min(sum(q for _, q in open_[i + 1 :]), sub.quantity)
        if here > after:
            windows.append(SeatWindow(quantity=here - after, until=until))
    return SeatWindows(source=source, windows=tuple(windows))


def _option(name: OptionName, decision: Decision) -> Option:
    """The option for a change that is not possible now, as its decision says."""
    return Option(
        name=name,
        possible=False,
        rule=decision.rule,
        reason=decision.reason,
        possible_from=decision.retry_at,
    )


def _add_seats(sub: Subscription, now: datetime, rules: RenewalRules) -> Option:
    decision = decide_quantity(sub, sub.quantity + 1, now, rules=rules.nce)
    if decision.action != "apply_now":
        return _option("add_seats", decision)
    return Option(
        name="add_seats",
        possible=True,
        rule=decision.rule,
        reason=decision.reason,
        until=sub.term_end,
        effect="now",
        prorated=True,
        drops_scheduled_changes=decision.drops_scheduled_changes,
    )


def _remove_seats(
    sub: Subscription, now: datetime, windows: SeatWindows, refundable: int, rules: RenewalRules
) -> Option:
    if sub.quantity <= 1:
        return Option(
            name="remove_seats",
            possible=False,
            rule="remove-seats",
            reason="the last seat cannot be removed; cancel the subscription instead",
        )
    seats = min(refundable, sub.quantity - 1)
    decision = decide_quantity(sub, sub.quantity - max(seats, 1), now, rules=rules.nce)
    if decision.action == "apply_now":
        return Option(
            name="remove_seats",
            possible=True,
            rule=decision.rule,
            reason=decision.reason,
            until=windows.windows[0].until,
            effect="now",
            seats=seats,
            prorated=True,
            drops_scheduled_changes=decision.drops_scheduled_changes,
        )
    if sub.status == "active" and decision.rule == "remove-seats":
        # Active, neither locked nor renewing: what stands in the way is that no seat is
        # inside its window any more (the rest of the decision is about the next term).
        return Option(
            name="remove_seats",
            possible=False,
            rule="seat-windows",
            reason="no seat is still inside the 168 h window of the purchase, renewal or "
            "addition that brought it",
        )
    return _option("remove_seats", decision)


def _reduce_next_term(sub: Subscription, now: datetime, rules: RenewalRules) -> Option:
    next_quantity = next_term(sub).quantity
    decision = decide_scheduled_quantity(sub, next_quantity - 1, now, rules.nce)
    if decision.action != "schedule_for_renewal":
        return _option("reduce_next_term", decision)
    return Option(
        name="reduce_next_term",
        possible=True,
        rule=decision.rule,
        reason=decision.reason,
        until=renewal_lock_at(sub, rules),
        effect="next_term",
        seats=next_quantity - 1,
    )


def _cancel(sub: Subscription, now: datetime, rules: RenewalRules) -> Option:
    decision = decide_cancel(sub, now, rules.nce)
    if decision.action == "apply_now":
        return Option(
            name="cancel",
            possible=True,
            rule=decision.rule,
            reason=decision.reason,
            until=cancellation_window_end(sub, rules.nce),
            effect="now",
            prorated=True,
        )
    if decision.action == "schedule_for_renewal":
        # Microsoft refuses a cancellation after the window: "cancel" means auto-renew off.
        return Option(
            name="cancel",
            possible=False,
            rule="cancellation-window",
            reason="the 168 h cancellation window has closed; turn auto-renew off to end the "
            "subscription at its term end",
        )
    return _option("cancel", decision)


def _auto_renew(sub: Subscription, now: datetime, rules: RenewalRules) -> Option:
    enabled = not sub.auto_renew_enabled
    name: OptionName = "turn_on_auto_renew" if enabled else "turn_off_auto_renew"
    decision = decide_auto_renew(sub, enabled, now, rules.nce)
    if decision.action != "apply_now":
        return _option(name, decision)
    return Option(
        name=name,
        possible=True,
        rule=decision.rule,
        reason=decision.reason,
        until=renewal_lock_at(sub, rules),
        effect="now",
        drops_scheduled_changes=decision.drops_scheduled_changes,
    )


def _sku_changes(
    sub: Subscription,
    now: datetime,
    current: Offer | None,
    family: Sequence[Offer],
    rules: RenewalRules,
) -> tuple[Option, Option]:
    if current is None:
        unknown = "the subscription's offer is not in the catalogue, so its family is unknown"
        return (
            Option(name="upgrade", possible=False, rule="upgrade", reason=unknown),
            Option(name="downgrade_next_term", possible=False, rule="downgrade", reason=unknown),
        )
    higher = [o for o in family if o.family == current.family and o.rank > current.rank]
    lower = [o for o in family if o.family == current.family and o.rank < current.rank]
    return (
        _sku_option("upgrade", "apply_now", sub, now, current, higher, rules),
        _sku_option("downgrade_next_term", "schedule_for_renewal", sub, now, current, lower, rules),
    )


def _sku_option(
    name: Literal["upgrade", "downgrade_next_term"],
    wanted: str,
    sub: Subscription,
    now: datetime,
    current: Offer,
    candidates: Sequence[Offer],
    rules: RenewalRules,
) -> Option:
    rule = "upgrade" if name == "upgrade" else "downgrade"
    if not candidates:
        return Option(
            name=name,
            possible=False,
            rule=rule,
            reason=f"no {'higher' if name == 'upgrade' else 'lower'} offer in the family "
            f"{current.family!r}",
        )
    decisions = [(o, decide_sku_change(sub, current, o, now, rules.nce)) for o in candidates]
    targets = sorted((o for o, d in decisions if d.action == wanted), key=lambda o: (o.rank, o.key))
    if not targets:
        return _option(name, decisions[0][1])
    decision = next(d for o, d in decisions if d.action == wanted)
    upgrade = name == "upgrade"
    return Option(
        name=name,
        possible=True,
        rule=decision.rule,
        reason=decision.reason,
        until=sub.term_end if upgrade else renewal_lock_at(sub, rules),
        effect="now" if upgrade else "next_term",
        targets=tuple(o.key for o in targets),
        prorated=upgrade,
        drops_scheduled_changes=decision.drops_scheduled_changes,
    )


def _suspend_or_reactivate(sub: Subscription, now: datetime, rules: RenewalRules) -> Option:
    suspended = sub.status == "suspended"
    name: OptionName = "reactivate" if suspended else "suspend"
    decision = (decide_resume if suspended else decide_suspend)(sub, now, rules.nce)
    if decision.action != "apply_now":
        return _option(name, decision)
    return Option(
        name=name,
        possible=True,
        rule=decision.rule,
        reason=decision.reason,
        until=sub.term_end,
        effect="now",
        drops_scheduled_changes=decision.drops_scheduled_changes,
    )


def options_now(
    sub: Subscription,
    now: datetime,
    *,
    batches: Sequence[SeatBatch] = (),
    current: Offer | None = None,
    family: Sequence[Offer] = (),
    context: RenewalContext | None = None,
    rules: RenewalRules = DEFAULT_RULES,
) -> Standing:
    """The subscription's standing at `now`. `current` is its offer in the catalogue (None:
    not there), `family` the catalogue's offers of that family (upgrade and downgrade
    targets), `context` what cspflow knows beyond the subscription (dunning, a requested
    change) for the no-answer outcome."""
    windows = seat_windows(sub, now, batches, rules)
    refundable = refundable_seats(sub, now, batches, rules.nce)
    upgrade, downgrade = _sku_changes(sub, now, current, family, rules)
    options = (
        _add_seats(sub, now, rules),
        _remove_seats(sub, now, windows, refundable, rules),
        _reduce_next_term(sub, now, rules),
        _cancel(sub, now, rules),
        _auto_renew(sub, now, rules),
        upgrade,
        downgrade,
        _suspend_or_reactivate(sub, now, rules),
    )
    return Standing(
        term_start=current_term_start(sub),
        term_end=sub.term_end,
        cancellation_window_end=cancellation_window_end(sub, rules.nce),
        seat_windows=windows,
        refundable_now=refundable,
        decision_deadline=decision_deadline(sub, rules),
        renewal_lock=renewal_lock_at(sub, rules),
        answer_window=answer_window(sub, now, rules),
        without_answer=outcome_without_answer(sub, context or RenewalContext()),
        next_term=next_term(sub),
        options=options,
    )
