"""Offers: what the partner sells, with Microsoft's cost and the partner's sell price."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from shared.models._base import DomainModel, Rate
from shared.models.money import Money
from shared.models.party import CountryCode

TermDuration = Literal["P1M", "P1Y", "P3Y"]
"""NCE commitment terms (ISO 8601 durations as Partner Center spells them)."""

BillingCycleName = Literal["monthly", "annual", "triennial"]

TERM_MONTHS: dict[TermDuration, int] = {"P1M": 1, "P1Y": 12, "P3Y": 36}
_BILLING_MONTHS: dict[BillingCycleName, int] = {"monthly": 1, "annual": 12, "triennial": 36}


def _lower(value: object) -> object:
    # Partner Center answers "monthly" but takes "Monthly" in requests (transitions, carts).
    return value.strip().lower() if isinstance(value, str) else value


BillingCycle = Annotated[BillingCycleName, BeforeValidator(_lower)]

CatalogItemId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9]+:[A-Za-z0-9]+:[A-Za-z0-9]+$",
        description="productId:skuId:availabilityId, e.g. CFQ7TTC0LH18:0001:CFQ7TTC0K971",
    ),
]


def billing_fits_term(term: TermDuration, cycle: BillingCycleName) -> bool:
    """A billing cycle can be no longer than the term (NCE: monthly, annual or upfront)."""
    return _BILLING_MONTHS[cycle] <= TERM_MONTHS[term]


def offer_key(catalog_item_id: str, term: TermDuration, cycle: BillingCycleName) -> str:
    """One sellable offer: `productId:skuId:availabilityId:term:cycle`, e.g.
    `CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1Y:monthly`. The same catalog item costs differently per
    term and billing cycle, so price lists name offers by this key."""
    return f"{catalog_item_id}:{term}:{cycle}"


class Offer(DomainModel):
    """One sellable NCE offer: a catalog item on a term and billing plan in one market
    (country) and currency, with Microsoft's cost and, once priced, the partner's price.

    `unit_cost` is what Microsoft charges the partner per seat per billing period, from
    Partner Center's price sheet for the market (docs/rules.md#catalogue-cost);
    `unit_price` is the partner's sell price, set on a copy priced from a price list
    (shared/policy/pricing.py). The book's catalogue holds offers without it: a sell price is
    computed from the price list in force when it is needed, so a price-list change applies
    to what is priced after it (docs/rules.md#price-list-changes).
    """

    catalog_item_id: CatalogItemId
    country: CountryCode
    name: str = Field(min_length=1, max_length=200)
    term_duration: TermDuration
    billing_cycle: BillingCycle
    unit_cost: Money
    unit_price: Money | None = None
    # Upgrade paths run within a product family, from lower to higher rank (Business Basic 1,
    # Standard 2, Premium 3). Partner Center's transitionEligibilities stays authoritative.
    family: str = Field(min_length=1, max_length=100)
    rank: int = Field(ge=0)
    # Seats one subscription of the offer may hold: Partner Center's SKU `minimumQuantity`
    # and `maximumQuantity` (docs/rules.md#seat-limits); None when the catalogue did not say.
    min_quantity: int = Field(default=1, ge=1)
    max_quantity: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Offer:
        if not billing_fits_term(self.term_duration, self.billing_cycle):
            raise ValueError(
                f"billing_cycle {self.billing_cycle} is longer than term {self.term_duration}"
            )
        price = self.unit_price
        if price is not None and self.unit_cost.currency != price.currency:
            raise ValueError("unit_cost and unit_price must share a currency")
        if self.unit_cost.is_negative() or (price is not None and price.is_negative()):
            raise ValueError("prices cannot be negative")
        if self.max_quantity is not None and self.max_quantity < self.min_quantity:
            raise ValueError("max_quantity is below min_quantity")
        return self

    def quantity_refusal(self, quantity: int) -> str | None:
        """Why `quantity` seats cannot be one subscription of this offer (None: they can)."""
        if quantity < self.min_quantity:
            return f"{self.name} is sold from {self.min_quantity} seats, not {quantity}"
        if self.max_quantity is not None and quantity > self.max_quantity:
            return (
                f"{self.name} is sold up to {self.max_quantity} seats per subscription, "
                f"not {quantity}"
            )
        return None

    @property
    def product_id(self) -> str:
        return self.catalog_item_id.split(":")[0]

    @property
    def sku_id(self) -> str:
        return self.catalog_item_id.split(":")[1]

    @property
    def availability_id(self) -> str:
        return self.catalog_item_id.split(":")[2]

    @property
    def currency(self) -> str:
        return self.unit_cost.currency

    @property
    def key(self) -> str:
        """The offer's identity: catalog item, term and billing cycle (`offer_key`)."""
        return offer_key(self.catalog_item_id, self.term_duration, self.billing_cycle)

    @property
    def markup(self) -> Decimal | None:
        """Sell price over cost minus one (0.15 = 15 %); None for a free-of-cost offer or one
        not priced yet.

        Exact when the ratio terminates in decimal, else to Decimal's 28 significant digits.
        """
        if self.unit_price is None or self.unit_cost.is_zero():
            return None
        ratio = Fraction(self.unit_price.amount_minor, self.unit_cost.amount_minor) - 1
        return Decimal(ratio.numerator) / Decimal(ratio.denominator)

    @staticmethod
    def price_with_markup(cost: Money, markup: Rate) -> Money:
        """The sell price for a cost and a markup (0.15 = 15 %), rounded once, half up."""
        if markup < -1:
            raise ValueError("a markup below -100 % would make a negative price")
        return cost.scaled(Decimal(1) + markup)
