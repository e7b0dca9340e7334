"""Money: an integer count of minor units plus an ISO 4217 currency.

Amounts are never floats. A float or a bool given as an amount is rejected (naming the
field), and so is a numeric string: JSON carries amounts as integers. Arithmetic is defined
only between equal currencies; scaling by a ratio rounds exactly once, with a rounding mode
the caller names.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt

from shared.models._base import DomainModel

# ISO 4217 List One (current currencies and funds), "Minor unit" column, as published by the
# maintenance agency SIX Group for ISO (https://www.six-group.com/en/products-services/
# financial-information/data-standards.html). Every active code is listed so a typo such as
# "EUD" is rejected instead of being read as a two-decimal currency. Codes whose minor unit
# is "N.A." (precious metals XAU/XAG/XPD/XPT, XDR, XSU, XUA, XBA-XBD, test XTS, no-currency
# XXX) are left out on purpose: they cannot be billed in minor units.
# fmt: off
_EXPONENT_0 = frozenset({
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
    "XAF", "XOF", "XPF",
})
_EXPONENT_2 = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF",
    "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
    "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR",
    "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS",
    "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS",
    "UAH", "USD", "USN", "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
})
_EXPONENT_3 = frozenset({
    "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND",
})
_EXPONENT_4 = frozenset({
    "CLF", "UYW",
})
# fmt: on
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_0, 0),
    **dict.fromkeys(_EXPONENT_2, 2),
    **dict.fromkeys(_EXPONENT_3, 3),
    **dict.fromkeys(_EXPONENT_4, 4),
}


def currency_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise ValueError(f"{currency!r} is not an active ISO 4217 currency code") from None


def _normalise_currency(value: object) -> object:
    # Stripe spells currencies in lower case ("usd"); ISO 4217 and Partner Center in upper.
    if isinstance(value, str):
        code = value.strip().upper()
        currency_exponent(code)
        return code
    return value


CurrencyCode = Annotated[
    str,
    BeforeValidator(_normalise_currency),
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code"),
]


Rounding = Literal["half_up", "half_even", "down", "floor", "ceiling"]
"""half_up: ties away from zero; half_even: ties to even; down: toward zero."""


def round_fraction(value: Fraction, rounding: Rounding = "half_up") -> int:
    """Round an exact fraction to an integer, exactly (no intermediate float or Decimal)."""
    floor = value.numerator // value.denominator
    rest = value - floor  # in [0, 1)
    if rest == 0 or rounding == "floor":
        return floor
    if rounding == "ceiling":
        return floor + 1
    if rounding == "down":
        return floor if value > 0 else floor + 1
    half = Fraction(1, 2)
    if rest != half:
        return floor + 1 if rest > half else floor
    if rounding == "half_even":
        return floor if floor % 2 == 0 else floor + 1
    return floor + 1 if value > 0 else floor


class CurrencyMismatchError(ValueError):
    """Arithmetic or comparison between amounts in different currencies."""


class Money(DomainModel):
    """An exact amount: `amount_minor` minor units (cents, yen, fils) of `currency`."""

    amount_minor: StrictInt
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount_minor=0, currency=currency)

    @classmethod
    def from_decimal(cls, amount: Decimal | str | int, currency: str) -> Money:
        """From a major-unit amount ("12.34" USD -> 1234). Extra precision is an error."""
        if isinstance(amount, bool | float):
            raise TypeError("amount must be a Decimal, str or int, never a float or a bool")
        code = currency.strip().upper()
        exponent = currency_exponent(code)
        exact = Decimal(amount)
        if not exact.is_finite():
            raise ValueError(f"{amount} is not a finite amount")
        minor = exact.scaleb(exponent)
        if minor != minor.to_integral_value():
            raise ValueError(
                f"{amount} {currency} has more decimals than the currency's {exponent}"
            )
        return cls(amount_minor=int(minor), currency=code)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, exact ("12.34")."""
        return Decimal(self.amount_minor).scaleb(-self.exponent)

    def scaled(self, ratio: Fraction | Decimal | int, rounding: Rounding = "half_up") -> Money:
        """This amount times an exact ratio, rounded once to a whole minor unit."""
        if isinstance(ratio, bool) or not isinstance(ratio, Fraction | Decimal | int):
            raise TypeError("ratio must be a Fraction, Decimal or int, never a float or a bool")
        exact = Fraction(self.amount_minor) * Fraction(ratio)
        return Money(amount_minor=round_fraction(exact, rounding), currency=self.currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"{self.currency} and {other.currency} do not mix")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount_minor=self.amount_minor + other.amount_minor, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount_minor=self.amount_minor - other.amount_minor, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount_minor=-self.amount_minor, currency=self.currency)

    def __mul__(self, quantity: int) -> Money:
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise TypeError("Money multiplies only by a whole quantity; use scaled() for ratios")
        return Money(amount_minor=self.amount_minor * quantity, currency=self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor >= other.amount_minor

    def is_zero(self) -> bool:
        return self.amount_minor == 0

    def is_negative(self) -> bool:
        return self.amount_minor < 0

    def __str__(self) -> str:
        return f"{self.to_decimal():f} {self.currency}"
