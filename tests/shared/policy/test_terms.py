from datetime import UTC, date, datetime

import pytest

from shared.models.subscription import Subscription
from shared.policy.terms import (
    Period,
    add_months,
    billing_period_on,
    current_term_start,
    term_period,
)

# Each row names its source; the rules are docs/rules.md#month-end-clamp and
# docs/rules.md#term-lengths.
MONTH_END = (
    "https://docs.stripe.com/billing/subscriptions/billing-cycle: anchor Jan 31 bills Feb 28 "
    "(29), then Mar 31, Apr 30; docs/rules.md#month-end-clamp"
)
PC_TERMS = (
    "https://learn.microsoft.com/en-us/partner-center/developer/custom-term-end-dates: terms "
    "are P1M, P1Y, P3Y; docs/rules.md#term-lengths"
)
CLAMP = "docs/rules.md#month-end-clamp"


@pytest.mark.parametrize(
    ("anchor", "months", "expected", "source"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28), MONTH_END),
        (date(2028, 1, 31), 1, date(2028, 2, 29), MONTH_END + " (2028 is a leap year)"),
        (date(2026, 1, 31), 2, date(2026, 3, 31), MONTH_END + ": back to the 31st"),
        (date(2026, 1, 30), 1, date(2026, 2, 28), MONTH_END),
        (date(2026, 3, 31), 1, date(2026, 4, 30), MONTH_END),
        (date(2028, 2, 29), 12, date(2029, 2, 28), "leap day + 1 year clamps; " + CLAMP),
        (date(2026, 2, 4), 12, date(2027, 2, 4), PC_TERMS),
        (date(2026, 2, 4), 36, date(2029, 2, 4), PC_TERMS),
        (date(2026, 12, 15), 1, date(2027, 1, 15), "year rolls over; " + CLAMP),
        (date(2026, 3, 31), -1, date(2026, 2, 28), "backwards clamps too; " + CLAMP),
    ],
)
def test_add_months_clamps_to_the_month_end(anchor, months, expected, source):
    assert add_months(anchor, months) == expected, source


# docs/rules.md#month-end-clamp: terms are real calendar spans (leap years included).
@pytest.mark.parametrize(
    ("start", "term", "days"),
    [
        (date(2026, 1, 31), "P1M", 28),
        (date(2028, 1, 31), "P1M", 29),
        (date(2026, 3, 1), "P1Y", 365),
        (date(2027, 3, 1), "P1Y", 366),  # spans Feb 29 2028
        (date(2026, 1, 1), "P3Y", 365 + 365 + 366),  # spans Feb 29 2028
        (date(2097, 3, 1), "P3Y", 365 + 365 + 365),  # 2100 is not a leap year
    ],
)
def test_term_length_in_days_follows_the_calendar(start, term, days):
    assert term_period(start, term).days == days


def test_period_must_move_forward():
    with pytest.raises(ValueError, match="not after"):
        Period(date(2026, 1, 2), date(2026, 1, 2))


# docs/rules.md#billing-periods: periods anchored on the term start, clamped to month ends.
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 31), Period(date(2026, 1, 31), date(2026, 2, 28))),
        (date(2026, 2, 27), Period(date(2026, 1, 31), date(2026, 2, 28))),
        (date(2026, 2, 28), Period(date(2026, 2, 28), date(2026, 3, 31))),
        (date(2026, 4, 30), Period(date(2026, 4, 30), date(2026, 5, 31))),
        (date(2027, 1, 30), Period(date(2026, 12, 31), date(2027, 1, 31))),
    ],
)
def test_monthly_billing_periods_of_an_annual_term_are_anchored_on_its_start(day, expected):
    assert billing_period_on(date(2026, 1, 31), "P1Y", "monthly", day) == expected


def test_billing_cycle_never_outruns_the_term():
    # triennial billing on a P1M term cannot exist; the period is the term itself
    assert billing_period_on(date(2026, 5, 1), "P1M", "triennial", date(2026, 5, 9)) == Period(
        date(2026, 5, 1), date(2026, 6, 1)
    )


def test_day_outside_the_term_has_no_billing_period():
    with pytest.raises(ValueError, match="outside the term"):
        billing_period_on(date(2026, 1, 1), "P1M", "monthly", date(2026, 2, 1))


def _sub(start: str, end: str, term: str = "P1Y") -> Subscription:
    return Subscription.model_validate(
        {
            "id": "s1",
            "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
            "quantity": 5,
            "status": "active",
            "autoRenewEnabled": True,
            "billingCycle": "monthly",
            "termDuration": term,
            "effectiveStartDate": start,
            "commitmentEndDate": end,
        }
    )


def test_first_term_starts_at_the_purchase():
    sub = _sub("2026-01-14T16:57:14Z", "2027-01-13T00:00:00Z")
    assert current_term_start(sub) == datetime(2026, 1, 14, 16, 57, 14, tzinfo=UTC)


def test_renewed_term_starts_the_day_after_the_previous_term_end():
    # Partner Center: renewal runs from 00:00 UTC the day after commitmentEndDate
    # (docs/rules.md#term-end, docs/rules.md#current-term-start)
    sub = _sub("2025-01-14T16:57:14Z", "2027-01-13T00:00:00Z")
    assert current_term_start(sub) == datetime(2026, 1, 14, tzinfo=UTC)


def test_an_item_that_never_renews_keeps_its_first_start():
    # Microsoft Learn, subscription-resources: items that do not renew carry a far-future
    # commitmentEndDate such as 9999-12-10; counting a month back from it would open a refund
    # window in the year 9999 (docs/rules.md#no-term-end).
    sub = _sub("2026-01-14T16:57:14Z", "9999-12-10T00:00:00Z", "P1M")
    assert current_term_start(sub) == datetime(2026, 1, 14, 16, 57, 14, tzinfo=UTC)
