"""Onboarding: what a new order's first invoice charges, line by line, before anything is
bought (docs/rules.md, section "Onboarding").

* money before Microsoft: each line's first billing period is invoiced and paid before the
  cart is checked out (docs/rules.md#first-invoice);
* a line without a custom term end date starts its term on the order day and its first
  billing period is a whole one (per seat per billing period, the offer's sell price);
* a coterminous line (a `custom_term_end_date`, Microsoft's allowed end dates: the term's
  calendar-month-aligned end or the end of one of the customer's subscriptions) ends its
  term on that date:
  its billing periods are counted back from the term's end, and the first one, which holds
  the order day, is charged for the days from the order day to its end, rounded once
  (docs/rules.md#coterminous-first-charge, docs/rules.md#daily-proration).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from shared.models.catalog import TERM_MONTHS, BillingCycleName, TermDuration
from shared.models.money import Money
from shared.policy.proration import prorate_between
from shared.policy.terms import Period, add_months, billing_period_on

_CYCLE_MONTHS: dict[BillingCycleName, int] = {"monthly": 1, "annual": 12, "triennial": 36}


@dataclass(frozen=True)
class FirstCharge:
    """A line's first billing period `[period.start, period.end)`, the days of it charged
    (`charged`, from the order day) and the amount."""

    period: Period
    charged: Period
    amount: Money


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def coterm_refusal(
    start: date, term: TermDuration, end: date, subscription_ends: Iterable[date] = ()
) -> str | None:
    """Why `end` cannot be a line's custom term end date when its term starts on `start`
    (None: it can). Microsoft allows the term's calendar-month-aligned end or the end date of
    one of the customer's active subscriptions within the term
    (docs/rules.md#coterminous-end-dates)."""
    if end < start:
        return f"{end} is before the term starts on {start}"
    latest = add_months(start, TERM_MONTHS[term]) - timedelta(days=1)
    if end > latest:
        return f"{end} is after the {term} term's own end {latest}"
    aligned = calendar_aligned_end(latest)
    if end != aligned and end not in set(subscription_ends):
        return (
            f"{end} is neither the term's calendar-month-aligned end {aligned} nor the end of "
            "one of the customer's subscriptions"
        )
    return None


def calendar_aligned_end(natural_end: date) -> date:
    """The calendar-month-aligned end of a term whose last day is `natural_end`: that day
    when it is a month end, else the last day of the month before (Microsoft's example: an
    annual term bought on 2023-02-04 may end on 2024-01-31)."""
    if is_month_end(natural_end):
        return natural_end
    return natural_end.replace(day=1) - timedelta(days=1)


def first_charge(
    price: Money,
    quantity: int,
    term: TermDuration,
    cycle: BillingCycleName,
    start: date,
    custom_term_end: date | None = None,
) -> FirstCharge:
    """What the first invoice charges for a line bought on `start`: `price` (per seat per
    billing period) x `quantity` for a whole first period, or for a coterminous line the
    days from `start` to the end of the billing period that holds it, counted back from the
    term's end and rounded once."""
    if quantity < 1:
        raise ValueError("a line buys at least one seat")
    if custom_term_end is None:
        period = billing_period_on(start, term, cycle, start)
        return FirstCharge(period=period, charged=period, amount=price * quantity)
    refusal = coterm_refusal(start, term, custom_term_end, (custom_term_end,))
    if refusal is not None:
        raise ValueError(refusal)
    end = custom_term_end + timedelta(days=1)  # the term's last day is inclusive
    step = min(_CYCLE_MONTHS[cycle], TERM_MONTHS[term])
    k = 1
    while add_months(end, -k * step) > start:
        k += 1
    period = Period(add_months(end, -k * step), add_months(end, -(k - 1) * step))
    amount = prorate_between(price, period, start, period.end, quantity)
    return FirstCharge(period=period, charged=Period(start, period.end), amount=amount)
