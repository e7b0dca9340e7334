"""Proration: the share of a period's price for the days that remain, rounded once.

NCE prorates mid-term seat additions to the end of the term (coterminous) and refunds
removals inside the 7-day window "minus a daily prorated charge for days used" (Microsoft
Learn, https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription).
cspflow charges its customer the same way, in the partner's sell price (docs/rules.md,
section "Proration"):

* by whole days: the day of the change counts as a day the customer has the seats
  (docs/rules.md#daily-proration);
* the exact ratio remaining_days / period_days is applied to price x seats and rounded once,
  half up, to a minor unit (never per seat, never per day, so no rounding drift;
  docs/rules.md#round-once);
* periods are real calendar spans, so a leap year has 366 days and a month-end term that
  starts on Jan 31 ends on Feb 28 (Feb 29 in a leap year; docs/rules.md#month-end-clamp).
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from shared.models.catalog import Offer
from shared.models.money import Money, Rounding
from shared.policy.terms import Period, billing_period_on


def remaining_fraction(period: Period, on: date) -> Fraction:
    """Share of the period still ahead on day `on`, counting `on` itself; in [0, 1]."""
    if on <= period.start:
        return Fraction(1)
    if on >= period.end:
        return Fraction(0)
    return Fraction((period.end - on).days, period.days)


def prorate_between(
    price: Money,
    period: Period,
    first_day: date,
    end_day: date,
    quantity: int = 1,
    rounding: Rounding = "half_up",
) -> Money:
    """The charge for days [first_day, end_day) of `period`, for `quantity` seats.

    `price` is the price of one seat for the whole period. Days outside the period are not
    charged. Rounded once.
    """
    if quantity < 0:
        raise ValueError("quantity cannot be negative")
    start = max(first_day, period.start)
    end = min(end_day, period.end)
    days = max((end - start).days, 0)
    return (price * quantity).scaled(Fraction(days, period.days), rounding)


def prorate(
    price: Money, period: Period, on: date, quantity: int = 1, rounding: Rounding = "half_up"
) -> Money:
    """The charge for the rest of `period` from day `on` (inclusive), rounded once."""
    return prorate_between(price, period, on, period.end, quantity, rounding)


def seat_increase_charge(offer: Offer, term_start: date, on: date, seats: int) -> Money:
    """What to charge now for `seats` added on day `on`: the rest of the billing period.

    `offer.unit_price` (the partner's sell price) is per seat per billing period: per month
    for monthly billing, per year for annual, the whole term for triennial upfront. The new
    seats are coterminous with the subscription: later billing periods bill them in full
    (docs/rules.md#seat-increase-charge).
    """
    if seats < 1:
        raise ValueError("a seat increase adds at least one seat")
    return _rest_of_billing_period(offer, term_start, on, seats)


def seat_decrease_refund(offer: Offer, term_start: date, on: date, seats: int) -> Money:
    """What to refund for `seats` removed on day `on` inside their cancellation window.

    The billing period's price minus a daily prorated charge for the days used (Microsoft
    Learn, "Manage customer subscriptions"): the days from `on` to the period end come back
    (docs/rules.md#seat-decrease-refund).
    """
    if seats < 1:
        raise ValueError("a seat decrease removes at least one seat")
    return _rest_of_billing_period(offer, term_start, on, seats)


def _rest_of_billing_period(offer: Offer, term_start: date, on: date, seats: int) -> Money:
    if offer.unit_price is None:
        raise ValueError(f"offer {offer.key} has no sell price: price it from its price list first")
    period = billing_period_on(term_start, offer.term_duration, offer.billing_cycle, on)
    return prorate(offer.unit_price, period, on, seats)
