"""A storefront order: what a customer asked to buy, line by line, at the partner's prices."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.catalog import BillingCycle, CatalogItemId, TermDuration, billing_fits_term
from shared.models.money import Money

OrderStatus = Literal[
    "received",
    "awaiting_payment_method",
    "placed",
    "provisioning",
    "provisioned",
    "failed",
    "cancelled",
]


class OrderLine(DomainModel):
    catalog_item_id: CatalogItemId
    quantity: int = Field(ge=1, le=100_000)
    term_duration: TermDuration
    billing_cycle: BillingCycle
    unit_price: Money
    # Coterm with an existing subscription or a calendar month end (Microsoft Learn,
    # https://learn.microsoft.com/en-us/partner-center/customers/align-subscription-end-dates).
    custom_term_end_date: date | None = None

    @field_validator("unit_price")
    @classmethod
    def _not_negative(cls, value: Money) -> Money:
        # A storefront order buys; credits and refunds are invoice lines, never order lines.
        if value.is_negative():
            raise ValueError("unit_price cannot be negative")
        return value

    @model_validator(mode="after")
    def _billing_fits(self) -> OrderLine:
        if not billing_fits_term(self.term_duration, self.billing_cycle):
            raise ValueError(
                f"billing_cycle {self.billing_cycle} is longer than term {self.term_duration}"
            )
        return self

    @property
    def amount(self) -> Money:
        return self.unit_price * self.quantity


class Order(DomainModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    customer_id: str = Field(min_length=1, max_length=64)
    created_at: UtcDateTime
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    status: OrderStatus = "received"
    partner_center_order_id: str | None = None

    @model_validator(mode="after")
    def _one_currency(self) -> Order:
        if len({line.unit_price.currency for line in self.lines}) > 1:
            raise ValueError("all lines of an order must share one currency")
        return self

    @property
    def total(self) -> Money:
        total = Money.zero(self.lines[0].unit_price.currency)
        for line in self.lines:
            total += line.amount
        return total
