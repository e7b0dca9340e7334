"""Calendar arithmetic for NCE terms: months that clamp to the month end, and term periods.

The rules are in docs/rules.md, section "Terms".
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from shared.models.catalog import TERM_MONTHS, BillingCycleName, TermDuration
from shared.models.subscription import Subscription

# Partner Center gives items that do not renew a far-future commitmentEndDate such as
# 9999-12-10: no term is counted back from it (docs/rules.md#no-term-end).
NO_TERM_END_YEAR = 9999

_CYCLE_MONTHS: dict[BillingCycleName, int] = {"monthly": 1, "annual": 12, "triennial": 36}


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months, clamped to the last day of a shorter month.

    Jan 31 + 1 month is Feb 28 (Feb 29 in a leap year); Feb 29 + 12 months is Feb 28.
    Always count from the original anchor (not from a clamped date), so a term that starts
    on the 31st comes back to the 31st wherever the month has one: the same rule as Stripe's
    billing cycle anchor (https://docs.stripe.com/billing/subscriptions/billing-cycle), which
    bills cspflow's customers (docs/rules.md#month-end-clamp).
    """
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor.day, last_day))


@dataclass(frozen=True)
class Period:
    """Whole days [start, end): `end` is the first day no longer covered."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} is not after its start {self.start}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def term_period(start: date, term: TermDuration) -> Period:
    return Period(start, add_months(start, TERM_MONTHS[term]))


def billing_period_on(
    term_start: date, term: TermDuration, cycle: BillingCycleName, day: date
) -> Period:
    """The billing period of a term that contains `day` (periods anchored on the term start,
    docs/rules.md#billing-periods)."""
    term_ = term_period(term_start, term)
    if not term_.contains(day):
        raise ValueError(f"{day} is outside the term {term_.start}..{term_.end}")
    step = min(_CYCLE_MONTHS[cycle], TERM_MONTHS[term])
    k = 0
    while add_months(term_start, (k + 1) * step) <= day:
        k += 1
    return Period(add_months(term_start, k * step), add_months(term_start, (k + 1) * step))


def current_term_start(subscription: Subscription) -> datetime:
    """When the current term began: the purchase, or the last renewal before `term_end`.

    Partner Center gives the end of the term; the start of a renewed term is the end moved
    back by the term length (clamped like Microsoft's month-end terms), and never earlier than
    the original effective start. An item without a real term end has only its first start.
    """
    end_day = subscription.term_end.date()
    if end_day.year >= NO_TERM_END_YEAR:
        return subscription.effective_start_date
    start_day = add_months(end_day, -TERM_MONTHS[subscription.term_duration])
    renewed_at = datetime.combine(start_day, time(), UTC)
    return max(renewed_at, subscription.effective_start_date)
