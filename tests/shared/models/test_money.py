from decimal import Decimal
from fractions import Fraction

import pytest

from shared.models.money import (
    CURRENCY_EXPONENTS,
    CurrencyMismatchError,
    Money,
    currency_exponent,
    round_fraction,
)

# ISO 4217 List One, "minor unit" column (SIX Group, maintenance agency for ISO 4217).
ISO_4217 = "ISO 4217 List One, minor unit column"


@pytest.mark.parametrize(
    ("currency", "exponent", "source"),
    [
        ("USD", 2, ISO_4217),
        ("EUR", 2, ISO_4217),
        ("GBP", 2, ISO_4217),
        ("JPY", 0, ISO_4217),
        ("KRW", 0, ISO_4217),
        ("KWD", 3, ISO_4217),
        ("BHD", 3, ISO_4217),
        ("JOD", 3, ISO_4217),
        ("OMR", 3, ISO_4217),
        ("TND", 3, ISO_4217),
        ("CLF", 4, ISO_4217),
    ],
)
def test_currency_exponent_follows_iso_4217(currency, exponent, source):
    assert currency_exponent(currency) == exponent, source


def test_every_listed_currency_is_a_three_letter_code_with_a_known_exponent():
    assert all(len(c) == 3 and c.isupper() for c in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}


@pytest.mark.parametrize("code", ["EUD", "XAU", "XXX", "US", "usd1"])
def test_unknown_or_unbillable_currency_is_rejected_naming_the_field(rejects, code):
    assert rejects(Money, {"amount_minor": 1, "currency": code}) == {"currency"}


def test_lower_case_currency_as_stripe_spells_it_is_read_as_iso():
    assert Money(amount_minor=100, currency="usd").currency == "USD"


@pytest.mark.parametrize("amount", [12.5, 12.0, True, False, "1250", None, Decimal("12.50")])
def test_amount_that_is_not_an_integer_is_rejected_naming_the_field(rejects, amount):
    assert rejects(Money, {"amount_minor": amount, "currency": "USD"}) == {"amount_minor"}


def test_unknown_field_is_rejected_by_name(rejects):
    assert "amount" in rejects(Money, {"amount": 100, "amount_minor": 1, "currency": "USD"})


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("1200", "JPY", 1200),
        ("1.234", "KWD", 1234),
        (Decimal("0.01"), "EUR", 1),
        (7, "USD", 700),
        ("-3.5", "USD", -350),
    ],
)
def test_from_decimal_scales_by_the_currency_exponent(major, currency, minor):
    money = Money.from_decimal(major, currency)
    assert money.amount_minor == minor
    assert money.to_decimal() == Decimal(str(major))


@pytest.mark.parametrize(("major", "currency"), [("12.345", "USD"), ("0.5", "JPY")])
def test_from_decimal_refuses_precision_the_currency_does_not_have(major, currency):
    with pytest.raises(ValueError, match="more decimals"):
        Money.from_decimal(major, currency)


@pytest.mark.parametrize("major", ["NaN", "Infinity", "-inf"])
def test_from_decimal_refuses_non_finite_amounts(major):
    with pytest.raises(ValueError, match="finite"):
        Money.from_decimal(major, "USD")


@pytest.mark.parametrize("major", [12.34, True])
def test_from_decimal_refuses_floats_and_bools(major):
    with pytest.raises(TypeError):
        Money.from_decimal(major, "USD")


def test_str_shows_major_units_and_code():
    assert str(Money(amount_minor=1234, currency="USD")) == "12.34 USD"
    assert str(Money(amount_minor=1234, currency="KWD")) == "1.234 KWD"
    assert str(Money(amount_minor=1234, currency="JPY")) == "1234 JPY"


def test_arithmetic_and_comparison_within_one_currency():
    a = Money(amount_minor=1000, currency="EUR")
    b = Money(amount_minor=250, currency="EUR")
    assert a + b == Money(amount_minor=1250, currency="EUR")
    assert a - b == Money(amount_minor=750, currency="EUR")
    assert -b == Money(amount_minor=-250, currency="EUR")
    assert b * 3 == 3 * b == Money(amount_minor=750, currency="EUR")
    assert b < a and b <= a and a > b and a >= b and a >= a
    assert Money.zero("EUR").is_zero() and (-a).is_negative()


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_arithmetic_between_currencies_is_refused(operation):
    with pytest.raises(CurrencyMismatchError):
        operation(Money(amount_minor=1, currency="USD"), Money(amount_minor=1, currency="EUR"))


def test_money_combines_only_with_money():
    usd = Money(amount_minor=1, currency="USD")
    with pytest.raises(TypeError):
        usd + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        usd * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        usd * True


@pytest.mark.parametrize(
    ("minor", "ratio", "rounding", "expected"),
    [
        (1001, Fraction(1, 2), "half_up", 501),
        (1001, Fraction(1, 2), "half_even", 500),
        (-1001, Fraction(1, 2), "half_up", -501),
        (1000, Fraction(1, 3), "half_up", 333),
        (1000, Fraction(2, 3), "half_up", 667),
        (1000, Fraction(2, 3), "down", 666),
        (1000, Decimal("0.155"), "half_up", 155),
        (999, 2, "half_up", 1998),
    ],
)
def test_scaling_rounds_exactly_once(minor, ratio, rounding, expected):
    scaled = Money(amount_minor=minor, currency="USD").scaled(ratio, rounding)
    assert scaled == Money(amount_minor=expected, currency="USD")


@pytest.mark.parametrize("ratio", [0.5, True])
def test_scaling_by_a_float_or_bool_is_refused(ratio):
    with pytest.raises(TypeError):
        Money(amount_minor=100, currency="USD").scaled(ratio)


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        (Fraction(5, 2), "half_up", 3),
        (Fraction(-5, 2), "half_up", -3),
        (Fraction(5, 2), "half_even", 2),
        (Fraction(7, 2), "half_even", 4),
        (Fraction(-5, 2), "half_even", -2),
        (Fraction(7, 3), "half_even", 2),
        (Fraction(8, 3), "half_even", 3),
        (Fraction(5, 2), "down", 2),
        (Fraction(-5, 2), "down", -2),
        (Fraction(-5, 2), "floor", -3),
        (Fraction(-5, 2), "ceiling", -2),
        (Fraction(4), "ceiling", 4),
    ],
)
def test_round_fraction_modes(value, rounding, expected):
    assert round_fraction(value, rounding) == expected


def test_money_round_trips_through_json():
    money = Money(amount_minor=-1234, currency="KWD")
    dumped = money.model_dump(mode="json")
    assert dumped == {"amount_minor": -1234, "currency": "KWD"}
    assert Money.model_validate(dumped) == money


def test_money_is_immutable_and_hashable():
    money = Money(amount_minor=1, currency="USD")
    with pytest.raises(ValueError):
        money.amount_minor = 2  # type: ignore[misc]
    assert len({money, Money(amount_minor=1, currency="USD")}) == 1
