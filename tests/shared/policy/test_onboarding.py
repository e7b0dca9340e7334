from datetime import date

import pytest

from shared.models.money import Money
from shared.policy.onboarding import (
    calendar_aligned_end,
    coterm_refusal,
    first_charge,
    is_month_end,
)
from shared.policy.terms import Period

# Microsoft Learn, "Align subscription end dates": a new subscription may end with an existing
# one or at a calendar month end; the first charge is prorated to that date
# (https://learn.microsoft.com/en-us/partner-center/customers/align-subscription-end-dates,
# docs/rules.md#coterminous-first-charge).
COTERM = "align-subscription-end-dates; docs/rules.md#coterminous-first-charge"
WHOLE = "docs/rules.md#first-invoice: a whole first billing period"


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


@pytest.mark.parametrize(
    ("price", "qty", "term", "cycle", "start", "end", "period", "amount", "source"),
    [
        # no coterm date: the first billing period in full, whatever the cycle
        (usd(720), 5, "P1Y", "monthly", date(2026, 1, 5), None,
         Period(date(2026, 1, 5), date(2026, 2, 5)), usd(3600), WHOLE),
        (usd(8640), 2, "P1Y", "annual", date(2026, 1, 5), None,
         Period(date(2026, 1, 5), date(2027, 1, 5)), usd(17280), WHOLE),
        (usd(900), 1, "P1M", "monthly", date(2026, 1, 31), None,
         Period(date(2026, 1, 31), date(2026, 2, 28)), usd(900), WHOLE),
        # annual billing, the term ends with another subscription on 2026-06-30:
        # 177 of the 365 days of [2025-07-01, 2026-07-01), rounded once (8640*3*177/365)
        (usd(8640), 3, "P1Y", "annual", date(2026, 1, 5), date(2026, 6, 30),
         Period(date(2025, 7, 1), date(2026, 7, 1)), usd(12569), COTERM),
        # monthly billing, same end: the month that holds the order day, 27 of 31 days
        (usd(720), 3, "P1Y", "monthly", date(2026, 1, 5), date(2026, 6, 30),
         Period(date(2026, 1, 1), date(2026, 2, 1)), usd(1881), COTERM),
        # ending with a subscription on the 14th: periods end on the 15th; 26 of 31 days
        (usd(1000), 1, "P1Y", "monthly", date(2026, 3, 20), date(2026, 11, 14),
         Period(date(2026, 3, 15), date(2026, 4, 15)), usd(839), COTERM),
        # a monthly term ending this month's end: the rest of the month
        (usd(3100), 1, "P1M", "monthly", date(2026, 1, 21), date(2026, 1, 31),
         Period(date(2026, 1, 1), date(2026, 2, 1)), usd(1100), COTERM),
    ],
)  # fmt: skip
def test_the_first_charge_of_a_line(price, qty, term, cycle, start, end, period, amount, source):
    charge = first_charge(price, qty, term, cycle, start, end)
    assert (charge.period, charge.amount) == (period, amount), source
    assert charge.charged.start == start or end is None
    assert charge.charged.end == period.end


@pytest.mark.parametrize(
    ("start", "term", "end", "ends", "refused"),
    [
        # the natural last day 2027-01-04 aligns to the month end before it
        (date(2026, 1, 5), "P1Y", date(2026, 12, 31), (), None),
        (date(2026, 1, 5), "P1Y", date(2026, 6, 30), (), "neither the term's calendar"),
        (date(2026, 1, 5), "P1Y", date(2026, 6, 14), (date(2026, 6, 14),), None),
        (date(2026, 1, 5), "P1Y", date(2026, 6, 14), (), "neither the term's calendar"),
        # Microsoft's example: bought 2023-02-04, the annual term may end 2024-01-31
        (date(2023, 2, 4), "P1Y", date(2024, 1, 31), (), None),
        # a term whose natural last day is a month end keeps it
        (date(2026, 3, 1), "P1M", date(2026, 3, 31), (), None),
        (date(2026, 1, 5), "P1M", date(2026, 2, 28), (), "after the P1M term's own end"),
        (date(2026, 1, 5), "P1Y", date(2025, 12, 31), (), "before the term starts"),
        (date(2026, 1, 5), "P1Y", date(2027, 1, 4), (date(2027, 1, 4),), None),
    ],
)
def test_which_custom_term_end_dates_are_allowed(start, term, end, ends, refused):
    # https://learn.microsoft.com/en-us/partner-center/customers/align-subscription-end-dates
    found = coterm_refusal(start, term, end, ends)
    assert (found is None) if refused is None else (found is not None and refused in found)


def test_a_refused_end_date_or_no_seat_is_not_charged():
    # which subscription ends exist is the caller's to check (coterm_refusal); the term's
    # bounds are checked here too
    with pytest.raises(ValueError, match="own end"):
        first_charge(usd(100), 1, "P1M", "monthly", date(2026, 1, 5), date(2026, 3, 31))
    with pytest.raises(ValueError, match="at least one seat"):
        first_charge(usd(100), 0, "P1Y", "monthly", date(2026, 1, 5))


def test_month_ends():
    assert is_month_end(date(2028, 2, 29)) and not is_month_end(date(2026, 2, 27))
    assert calendar_aligned_end(date(2027, 1, 4)) == date(2026, 12, 31)
