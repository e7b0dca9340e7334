"""Sell prices: the partner's price for an offer, from a price list and Microsoft's cost.

A price list (shared/models/pricing.py) is in one currency and holds rules at four levels.
The most specific rule that exists wins:

1. the customer's own override (its offer rule, else its family rule, else its default);
2. the offer's rule (`Offer.key`: catalog item, term and billing cycle);
3. the product family's rule (`Offer.family`);
4. the list default (docs/rules.md#price-rules).

A rule is a markup over Microsoft's cost (`cost x (1 + rate)`) or a fixed price. A markup is
computed exactly in Decimal (never a float; an inexact intermediate is an error, not a silent
rounding) and rounded once to the currency's minor unit (ISO 4217 exponents from
shared/models/money.py: JPY 0 decimals, USD 2, KWD and BHD 3), half up unless the list states
another rounding. A fixed price is already in minor units and is taken as it is
(docs/rules.md#price-rounding).

A price below Microsoft's cost is refused (`BelowCostError`) unless the list allows it; when
allowed it is flagged (`SellPrice.below_cost`) so the ops page and the billing-accuracy KPI can
show it (docs/rules.md#below-cost).

Prices are computed when they are needed, from the list in force then: a price-list change
applies to what is priced after it, never to an issued invoice or a term already sold
(docs/rules.md#price-list-changes).

Microsoft's cost comes from Partner Center's license-based price sheet: `microsoft_cost`
picks the row in force for an offer (docs/rules.md#catalogue-cost).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
    Inexact,
    localcontext,
)
from typing import Literal

from shared.errors import PermanentError
from shared.models.catalog import Offer
from shared.models.money import CurrencyMismatchError, Money, Rounding, currency_exponent
from shared.models.pricing import FixedPrice, PriceList, PriceRule

PriceLevel = Literal[
    "customer_offer", "customer_family", "customer_default", "offer", "family", "default"
]

DECIMAL_ROUNDING: dict[Rounding, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "floor": ROUND_FLOOR,
    "ceiling": ROUND_CEILING,
}

# Enough digits for any cost times any markup a price list can hold; a product that would
# need more is refused (Inexact) rather than rounded twice.
_PRECISION = 60


class BelowCostError(PermanentError, ValueError):
    """The rule would sell under Microsoft's cost and the price list does not allow that."""

    code = "below_cost"


@dataclass(frozen=True)
class SellPrice:
    """The price, what it was computed from, and which rule gave it."""

    price: Money
    cost: Money
    level: PriceLevel
    rule: PriceRule
    below_cost: bool

    @property
    def margin(self) -> Money:
        return self.price - self.cost


def choose_rule(
    price_list: PriceList, *, offer_key: str, family: str, customer_id: str | None = None
) -> tuple[PriceLevel, PriceRule]:
    """The rule that prices this offer for this customer, and its level."""
    candidates: list[tuple[PriceLevel, PriceRule | None]] = []
    customer = price_list.customers.get(customer_id) if customer_id is not None else None
    if customer is not None:
        candidates += [
            ("customer_offer", customer.offers.get(offer_key)),
            ("customer_family", customer.families.get(family)),
            ("customer_default", customer.default),
        ]
    candidates += [
        ("offer", price_list.offers.get(offer_key)),
        ("family", price_list.families.get(family)),
    ]
    for level, rule in candidates:
        if rule is not None:
            return level, rule
    return "default", price_list.default


def apply_rule(rule: PriceRule, cost: Money, rounding: Rounding = "half_up") -> Money:
    """The price a rule gives for `cost`: a fixed price as it is, a markup rounded once."""
    if isinstance(rule, FixedPrice):
        return rule.price
    exponent = currency_exponent(cost.currency)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.traps[Inexact] = True
        exact = cost.to_decimal() * (Decimal(1) + rule.rate)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        rounded = exact.quantize(Decimal(1).scaleb(-exponent), rounding=DECIMAL_ROUNDING[rounding])
    return Money.from_decimal(rounded, cost.currency)


def sell_price(
    price_list: PriceList,
    *,
    cost: Money,
    offer_key: str,
    family: str,
    customer_id: str | None = None,
) -> SellPrice:
    """The partner's price per seat per billing period for an offer whose Microsoft cost is
    `cost` (in the list's currency)."""
    if cost.currency != price_list.currency:
        raise CurrencyMismatchError(
            f"price list {price_list.id} is in {price_list.currency}, the cost in {cost.currency}"
        )
    if cost.is_negative():
        raise ValueError("Microsoft's cost cannot be negative")
    level, rule = choose_rule(
        price_list, offer_key=offer_key, family=family, customer_id=customer_id
    )
    price = apply_rule(rule, cost, price_list.rounding)
    below_cost = price < cost
    if below_cost and not price_list.allow_below_cost:
        raise BelowCostError(
            f"{offer_key}: the {level} rule of price list {price_list.id} gives {price}, "
            f"under Microsoft's cost {cost}, and the list does not allow selling below cost"
        )
    return SellPrice(price=price, cost=cost, level=level, rule=rule, below_cost=below_cost)


def offer_sell_price(
    price_list: PriceList, offer: Offer, customer_id: str | None = None
) -> SellPrice:
    """`sell_price` for a catalogue offer: its cost, key and family."""
    return sell_price(
        price_list,
        cost=offer.unit_cost,
        offer_key=offer.key,
        family=offer.family,
        customer_id=customer_id,
    )


@dataclass(frozen=True)
class ListedPrice:
    """One row of Partner Center's license-based price sheet, as the cost rule reads it:
    `unit_price` per licence per billing period of `billing_plan` (`Monthly`, `Annual`,
    `Triennial`, `None` for a trial), in force from `start` until `end` (exclusive)."""

    product_id: str
    sku_id: str
    term: str
    billing_plan: str
    currency: str
    unit_price: Decimal
    start: datetime
    end: datetime


def microsoft_cost(
    prices: Iterable[ListedPrice],
    *,
    product_id: str,
    sku_id: str,
    term: str,
    cycle: str,
    currency: str,
    at: datetime,
) -> Money | None:
    """What Microsoft charges per licence per billing period for a SKU on a term and
    billing cycle in `currency` at `at`: the row in force then (the latest start when rows
    overlap), rounded down to the currency's minor unit as Microsoft's invoice lines are;
    a trial row (plan `None`) costs nothing on any cycle. None: no row in force
    (docs/rules.md#catalogue-cost)."""
    matching = [
        p
        for p in prices
        if (p.product_id, p.sku_id, p.term, p.currency.upper())
        == (product_id, sku_id, term, currency)
        and p.billing_plan.lower() in (cycle, "none")
        and p.start <= at < p.end
    ]
    if not matching:
        return None
    row = max(matching, key=lambda p: p.start)
    if row.billing_plan.lower() == "none":
        return Money.zero(currency)
    step = Decimal(1).scaleb(-currency_exponent(currency))
    return Money.from_decimal(row.unit_price.quantize(step, rounding=ROUND_DOWN), currency)
