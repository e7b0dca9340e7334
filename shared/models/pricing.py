"""Price lists: how the partner turns Microsoft's cost into its own sell price.

A price list is in one currency and holds rules at four levels; shared/policy/pricing.py
applies them (customer override > offer > product family > list default). A rule is either a
markup over Microsoft's cost (`Markup`, 0.15 = 15 %) or a fixed price (`FixedPrice`). The
list states its rounding once (half up unless it says otherwise) and whether a price below
cost is allowed at all.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, Rate
from shared.models.money import CurrencyCode, Money, Rounding

PriceListId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Markup(DomainModel):
    """Sell at Microsoft's cost times (1 + rate): 0.15 is 15 % over cost, -0.05 is 5 % under."""

    kind: Literal["markup"] = "markup"
    rate: Rate

    @model_validator(mode="after")
    def _not_below_minus_one(self) -> Markup:
        if self.rate < -1:
            raise ValueError("a markup below -100 % would make a negative price")
        return self


class FixedPrice(DomainModel):
    """Sell at this price per seat per billing period, whatever Microsoft charges."""

    kind: Literal["fixed"] = "fixed"
    price: Money

    @model_validator(mode="after")
    def _not_negative(self) -> FixedPrice:
        if self.price.is_negative():
            raise ValueError("a fixed price cannot be negative")
        return self


PriceRule = Annotated[Markup | FixedPrice, Field(discriminator="kind")]


class CustomerPricing(DomainModel):
    """One customer's negotiated prices. Any of them wins over every rule of the list; among
    them the most specific wins (offer, then family, then the customer's default)."""

    default: PriceRule | None = None
    families: dict[str, PriceRule] = Field(default_factory=dict)
    offers: dict[str, PriceRule] = Field(default_factory=dict)

    def rules(self) -> list[PriceRule]:
        return [
            *([self.default] if self.default else []),
            *self.families.values(),
            *self.offers.values(),
        ]


class PriceList(DomainModel):
    """The partner's prices in one currency. `offers` are keyed by `Offer.key`
    (catalog item, term, billing cycle), `families` by `Offer.family`, `customers` by the
    customer's id."""

    id: PriceListId
    currency: CurrencyCode
    name: str = Field(default="", max_length=200)
    default: PriceRule
    families: dict[str, PriceRule] = Field(default_factory=dict)
    offers: dict[str, PriceRule] = Field(default_factory=dict)
    customers: dict[str, CustomerPricing] = Field(default_factory=dict)
    # Stated once for the whole list: every computed price is rounded to the currency's minor
    # unit exactly once, this way.
    rounding: Rounding = "half_up"
    # A price under Microsoft's cost is refused unless the list allows it (and is flagged then).
    allow_below_cost: bool = False

    @model_validator(mode="after")
    def _fixed_prices_in_the_list_currency(self) -> PriceList:
        rules = [
            self.default,
            *self.families.values(),
            *self.offers.values(),
            *(rule for pricing in self.customers.values() for rule in pricing.rules()),
        ]
        for rule in rules:
            if isinstance(rule, FixedPrice) and rule.price.currency != self.currency:
                raise ValueError(
                    f"fixed price {rule.price} is not in the list currency {self.currency}"
                )
        return self
