"""An NCE subscription as Partner Center returns it, plus the seat batches cspflow records.

`Subscription` validates Partner Center's JSON directly (camelCase aliases) and our own
snake_case dumps alike. Field meanings (Microsoft Learn,
https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources; the rules
built on them are docs/rules.md#term-end and docs/rules.md#partner-center-dates-win):

* `commitmentEndDate` is the inclusive last day of the term; renewal runs from 00:00 UTC the
  next day. `commitmentEndDateTime`, when present, is the exact end and wins.
* `cancellationAllowedUntilDate` ends the 7-day (168 h) cancellation window of the current
  purchase or renewal; `refundableQuantity.details[].allowedUntilDateTime` says until when
  each batch of seats can still be removed. Both win over our own arithmetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from shared.models._base import DomainModel, PartnerCenterModel, UtcDateTime
from shared.models.catalog import BillingCycle, CatalogItemId, TermDuration
from shared.models.money import Money

SubscriptionStatusName = Literal[
    "none", "active", "pending", "suspended", "expired", "disabled", "deleted"
]


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


SubscriptionStatus = Annotated[SubscriptionStatusName, BeforeValidator(_lower)]


class RefundableBatch(PartnerCenterModel):
    """Seats that can still be removed for a refund, until `allowedUntilDateTime`."""

    quantity: int = Field(ge=0)
    allowed_until_date_time: UtcDateTime


class RefundableQuantity(PartnerCenterModel):
    total_quantity: int = Field(ge=0)
    details: tuple[RefundableBatch, ...] = ()


class ScheduledProduct(PartnerCenterModel):
    product_id: str = Field(min_length=1)
    sku_id: str = Field(min_length=1)
    availability_id: str = Field(min_length=1)
    billing_cycle: BillingCycle
    term_duration: TermDuration
    promotion_id: str | None = None

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"


class ScheduledNextTermInstructions(PartnerCenterModel):
    """What the subscription becomes at renewal (Microsoft Learn, create-scheduled-changes):
    product, quantity, coterm date."""

    product: ScheduledProduct
    quantity: int = Field(ge=1)
    # Partner Center sends a midnight timestamp without an offset ("2028-01-31T00:00:00"):
    # it is a calendar day, so it is modelled as one.
    custom_term_end_date: date | None = None


class Subscription(PartnerCenterModel):
    id: str = Field(min_length=1, max_length=64)
    offer_id: CatalogItemId
    offer_name: str | None = None
    friendly_name: str | None = None
    quantity: int = Field(ge=0)
    unit_type: str | None = None
    status: SubscriptionStatus
    auto_renew_enabled: bool
    is_trial: bool = False
    billing_cycle: BillingCycle
    term_duration: TermDuration
    creation_date: UtcDateTime | None = None
    effective_start_date: UtcDateTime
    commitment_end_date: date
    commitment_end_date_time: UtcDateTime | None = None
    cancellation_allowed_until_date: UtcDateTime | None = None
    billing_cycle_end_date: date | None = None
    refundable_quantity: RefundableQuantity | None = None
    scheduled_next_term_instructions: ScheduledNextTermInstructions | None = None
    order_id: str | None = None
    suspension_reasons: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _dates_in_order(self) -> Subscription:
        if self.commitment_end_date < self.effective_start_date.date():
            raise ValueError("commitmentEndDate is before effectiveStartDate")
        return self

    @property
    def term_end(self) -> datetime:
        """The instant the current term ends (exclusive): renewal processing starts here."""
        if self.commitment_end_date_time is not None:
            end = self.commitment_end_date_time
            # "2027-01-13T23:59:59Z" names the last second of the term; the term ends after it.
            return end.replace(microsecond=0) + timedelta(seconds=1)
        return datetime.combine(self.commitment_end_date + timedelta(days=1), time(), UTC)


class SeatBatch(DomainModel):
    """Seats added at one moment (purchase, renewal or a mid-term add): one 168 h window each.

    cspflow records these itself, so it can still answer when Partner Center's
    `refundableQuantity` is missing (older API versions, the simulator's minimal shape).
    """

    quantity: int = Field(ge=1)
    added_at: UtcDateTime


class SubscriptionRecord(DomainModel):
    """A subscription as the book keeps it: Partner Center's mirror plus what only cspflow
    knows. Partner Center wins on everything in `subscription` (shared/book/partner_center.py
    applies its reads); the other fields are cspflow's own and a sync never touches them."""

    customer_id: str = Field(min_length=1, max_length=64)
    subscription: Subscription
    # The partner's sell price per seat per billing period (shared/policy/pricing.py), once set.
    unit_price: Money | None = None
    # The Stripe subscription item that bills these seats, once billing is set up.
    stripe_subscription_item_id: str | None = Field(default=None, pattern=r"^si_[A-Za-z0-9]+$")
    seat_batches: tuple[SeatBatch, ...] = ()
    # When a book sync first found the subscription missing from Partner Center's list of the
    # customer's subscriptions; None while Partner Center lists it. The record is kept.
    gone_from_partner_center_at: UtcDateTime | None = None

    @property
    def id(self) -> str:
        return self.subscription.id

    @property
    def term_end(self) -> datetime:
        return self.subscription.term_end
