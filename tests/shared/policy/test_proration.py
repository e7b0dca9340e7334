from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.models.catalog import Offer
from shared.models.money import CURRENCY_EXPONENTS, Money
from shared.policy.proration import (
    prorate,
    prorate_between,
    remaining_fraction,
    seat_decrease_refund,
    seat_increase_charge,
)
from shared.policy.terms import Period, term_period

# Microsoft Learn, "Manage customer subscriptions": additions are prorated to the term end
# (coterminous); refunds are the full amount minus a daily prorated charge for the days used.
# cspflow applies the same by-day rule to its sell price (docs/rules.md#daily-proration).
MS_PRORATE = (
    "https://learn.microsoft.com/en-us/partner-center/customers/create-a-new-subscription: "
    "daily proration; docs/rules.md#daily-proration"
)
ROUND_ONCE = (
    "cspflow's rule, docs/rules.md#round-once: exact ratio, rounded once, half up, in minor units"
)


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


@pytest.mark.parametrize(
    ("price", "start", "term", "on", "seats", "expected", "source"),
    [
        # a 365-day annual term: 100 of 365 days left
        (usd(36500), date(2026, 3, 1), "P1Y", date(2026, 11, 21), 1, usd(10000), MS_PRORATE),
        # the first day of the term charges the whole term, the day after its end nothing
        (usd(12000), date(2026, 3, 1), "P1Y", date(2026, 3, 1), 2, usd(24000), MS_PRORATE),
        (usd(12000), date(2026, 3, 1), "P1Y", date(2027, 3, 1), 2, usd(0), MS_PRORATE),
        (usd(12000), date(2026, 3, 1), "P1Y", date(2026, 1, 1), 1, usd(12000), MS_PRORATE),
        # a leap-year term has 366 days: the last day is worth 1/366
        (usd(36600), date(2027, 3, 1), "P1Y", date(2028, 2, 29), 1, usd(100), MS_PRORATE),
        # month-end term: Jan 31 -> Feb 28 is 28 days, 14 left on Feb 14
        (usd(2800), date(2026, 1, 31), "P1M", date(2026, 2, 14), 1, usd(1400), MS_PRORATE),
        # ... and 29 days in a leap year
        (usd(2900), date(2028, 1, 31), "P1M", date(2028, 2, 28), 1, usd(100), MS_PRORATE),
        # triennial 1096 days, 1 day left, 3 seats at 10.00: 30.00/1096 = 0.0273 -> 0.03
        (usd(1000), date(2026, 1, 1), "P3Y", date(2028, 12, 31), 3, usd(3), ROUND_ONCE),
        # rounding happens on seats x price, not per seat: 7 x (1.00 x 1/3) = 2.33, not 7 x 0.33
        (usd(100), date(2026, 4, 1), "P1M", date(2026, 4, 21), 7, usd(233), ROUND_ONCE),
        # zero-decimal currency: 1000 JPY x 15/30 = 500
        (
            Money(amount_minor=1000, currency="JPY"),
            date(2026, 4, 1),
            "P1M",
            date(2026, 4, 16),
            1,
            Money(amount_minor=500, currency="JPY"),
            ROUND_ONCE,
        ),
        # three-decimal currency: 1.000 KWD x 1/30 = 0.0333 -> 0.033
        (
            Money(amount_minor=1000, currency="KWD"),
            date(2026, 4, 1),
            "P1M",
            date(2026, 4, 30),
            1,
            Money(amount_minor=33, currency="KWD"),
            ROUND_ONCE,
        ),
    ],
)
def test_prorated_charge_for_the_rest_of_the_term(price, start, term, on, seats, expected, source):
    assert prorate(price, term_period(start, term), on, seats) == expected, source


def test_half_minor_unit_rounds_up_once():
    # docs/rules.md#round-once
    # 1.01 x 1/2 = 0.505 -> 0.51 (half up), 0.50 with banker's rounding on request
    period = Period(date(2026, 4, 1), date(2026, 4, 3))
    assert prorate(usd(101), period, date(2026, 4, 2)) == usd(51)
    assert prorate(usd(101), period, date(2026, 4, 2), rounding="half_even") == usd(50)


# docs/rules.md#daily-proration: the day of the change counts as a day with the seats.
@pytest.mark.parametrize(
    ("on", "fraction"),
    [
        (date(2026, 3, 31), Fraction(1)),
        (date(2026, 4, 1), Fraction(1)),
        (date(2026, 4, 11), Fraction(20, 30)),
        (date(2026, 4, 30), Fraction(1, 30)),
        (date(2026, 5, 1), Fraction(0)),
    ],
)
def test_remaining_fraction_counts_the_day_of_change(on, fraction):
    assert remaining_fraction(Period(date(2026, 4, 1), date(2026, 5, 1)), on) == fraction


def test_charge_between_two_days_ignores_days_outside_the_period():
    period = Period(date(2026, 4, 1), date(2026, 5, 1))
    assert prorate_between(usd(3000), period, date(2026, 3, 1), date(2026, 4, 11)) == usd(1000)
    assert prorate_between(usd(3000), period, date(2026, 4, 21), date(2026, 6, 1)) == usd(1000)
    assert prorate_between(usd(3000), period, date(2026, 4, 21), date(2026, 4, 1)) == usd(0)


def test_negative_quantity_is_refused():
    with pytest.raises(ValueError, match="negative"):
        prorate(usd(100), Period(date(2026, 4, 1), date(2026, 5, 1)), date(2026, 4, 2), -1)


def offer(term: str, cycle: str, unit_minor: int = 1000) -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
            "country": "US",
            "name": "Microsoft 365 Business Basic",
            "term_duration": term,
            "billing_cycle": cycle,
            "unit_cost": {"amount_minor": unit_minor * 8 // 10, "currency": "USD"},
            "unit_price": {"amount_minor": unit_minor, "currency": "USD"},
            "family": "m365-business",
            "rank": 1,
        }
    )


# Monthly billing of an annual term: an addition pays the rest of the current month now and
# full months afterwards (coterminous; Microsoft Learn "Manage customer subscriptions",
# docs/rules.md#seat-increase-charge).
@pytest.mark.parametrize(
    ("term", "cycle", "on", "expected"),
    [
        ("P1Y", "monthly", date(2026, 3, 15), usd(2581)),  # 5000 x 16/31 = 2580.6
        ("P1Y", "monthly", date(2026, 2, 28), usd(5000)),  # first day of a period
        ("P1Y", "annual", date(2026, 7, 31), usd(2521)),  # 5000 x 184/365 = 2520.5
        ("P1M", "monthly", date(2026, 2, 27), usd(179)),  # 5000 x 1/28 = 178.6
    ],
)
def test_seat_increase_pays_the_rest_of_the_current_billing_period(term, cycle, on, expected):
    charge = seat_increase_charge(offer(term, cycle), date(2026, 1, 31), on, 5)
    assert charge == expected, MS_PRORATE


def test_seat_increase_is_charged_at_the_sell_price_not_the_cost():
    charge = seat_increase_charge(
        offer("P1M", "monthly", 1000), date(2026, 4, 1), date(2026, 4, 1), 1
    )
    assert charge == usd(1000)


def test_removal_inside_the_window_refunds_the_days_not_used():
    # docs/rules.md#seat-decrease-refund
    # bought on Apr 1 (30-day month), removed on Apr 4: 27 of 30 days come back
    refund = seat_decrease_refund(
        offer("P1Y", "monthly", 3000), date(2026, 4, 1), date(2026, 4, 4), 2
    )
    assert refund == usd(5400), MS_PRORATE


@pytest.mark.parametrize("charge", [seat_increase_charge, seat_decrease_refund])
def test_a_seat_change_moves_at_least_one_seat(charge):
    with pytest.raises(ValueError, match="at least one seat"):
        charge(offer("P1Y", "monthly"), date(2026, 1, 31), date(2026, 2, 2), 0)


# --- properties (docs/rules.md#round-once) --------------------------------------------

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
prices = st.integers(min_value=0, max_value=10**12)
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
terms = st.sampled_from(["P1M", "P1Y", "P3Y"])


@given(prices, currencies, starts, terms, st.integers(-40, 1200), st.integers(0, 10_000))
def test_proration_is_never_negative_nor_more_than_the_full_term(
    minor, currency, start, term, offset, seats
):
    price = Money(amount_minor=minor, currency=currency)
    period = term_period(start, term)
    charge = prorate(price, period, start + timedelta(days=offset), seats)
    assert 0 <= charge.amount_minor <= minor * seats
    assert charge.currency == currency


@given(prices, starts, terms, st.data())
def test_a_split_term_sums_to_the_whole_within_one_minor_unit(minor, start, term, data):
    price = usd(minor)
    period = term_period(start, term)
    split = start + timedelta(days=data.draw(st.integers(0, period.days)))
    before = prorate_between(price, period, period.start, split)
    after = prorate_between(price, period, split, period.end)
    assert abs((before + after).amount_minor - minor) <= 1


@given(prices, starts, terms, st.integers(0, 1100), st.integers(0, 1100))
def test_later_changes_never_cost_more(minor, start, term, a, b):
    period = term_period(start, term)
    early, late = sorted((a, b))
    price = usd(minor)
    assert prorate(price, period, start + timedelta(days=late)) <= prorate(
        price, period, start + timedelta(days=early)
    )


def test_an_offer_without_a_sell_price_is_priced_first():
    unpriced = offer("P1Y", "monthly").model_copy(update={"unit_price": None})
    with pytest.raises(ValueError, match="no sell price"):
        seat_increase_charge(unpriced, date(2026, 2, 28), date(2026, 3, 15), 1)
