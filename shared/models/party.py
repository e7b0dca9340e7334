"""The partner (the CSP reseller running cspflow) and its customers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import available_timezones

import holidays
from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.models._base import DomainModel, Rate, UtcDateTime
from shared.models.money import CurrencyCode

SlaTier = Literal["premium", "standard", "basic"]
SlaKind = Literal[
    "onboarding",
    "licence_change",
    "renewal_decision",
    "payment_first_contact",
    "support_first_response",
    "support_resolution",
]
SlaUnit = Literal["wall_clock_hours", "business_hours", "business_days"]


class SlaTargetSpec(DomainModel):
    """The target a clock runs to, as data (shared.policy.sla.SlaTarget)."""

    amount: int = Field(ge=1, le=10_000)
    unit: SlaUnit


# A DNS name as Partner Center takes it for a customer's initial domain
# (contoso.onmicrosoft.com): labels of letters, digits and inner hyphens.
DomainName = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="lower-case DNS name",
    ),
]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(name: str) -> str:
    # available_timezones() comes from tzdata (pinned), so the check is the same everywhere.
    if name not in _zone_names():
        raise ValueError(f"{name!r} is not an IANA time zone")
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class Contact(DomainModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    role: Literal["primary", "billing", "technical"] = "primary"
    phone: str | None = Field(default=None, max_length=40)


class PaymentTerms(DomainModel):
    """How the customer pays: card on file charged automatically, or an invoice due in N days."""

    collection: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    net_days: int = Field(default=0, ge=0, le=90)

    @model_validator(mode="after")
    def _net_days_only_for_invoices(self) -> PaymentTerms:
        if self.collection == "charge_automatically" and self.net_days:
            raise ValueError("net_days applies only to collection 'send_invoice'")
        return self


@cache
def _holiday_calendars() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


class BusinessCalendar(DomainModel):
    """Where the customer's business hours are counted: a time zone and a holiday calendar.

    `country` and `subdivision` name a public-holiday calendar of the `holidays` package
    (pinned in requirements.txt), so an unknown one is refused here, naming the field.
    """

    time_zone: TimeZoneName = "UTC"
    country: CountryCode = "US"
    subdivision: str | None = Field(default=None, max_length=10)
    # Extra closed days the partner agreed with this customer, on top of public holidays.
    extra_holidays: tuple[date, ...] = ()

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value not in _holiday_calendars():
            raise ValueError(f"no public-holiday calendar for country {value!r}")
        return value

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        # country is absent from info.data when it failed its own validation
        if value is not None and country is not None and value not in _holiday_calendars()[country]:
            raise ValueError(f"{value!r} is not a subdivision of {country}")
        return value


class Partner(DomainModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    tenant_id: UUID
    mpn_id: str | None = Field(default=None, pattern=r"^[0-9]{6,10}$")
    default_currency: CurrencyCode
    calendar: BusinessCalendar = BusinessCalendar()


class TaxProfile(DomainModel):
    """How the customer's invoices are taxed (docs/rules.md#invoice-tax): a rate added on
    top of the prices (exclusive), none at all when `exempt`, and the customer's VAT id,
    which the partner has checked (`vat_id_valid`, in the EU's VIES) before it turns an
    invoice into a reverse charge (docs/rules.md#reverse-charge)."""

    rate: Rate = Decimal(0)
    exempt: bool = False
    vat_id: str | None = Field(default=None, pattern=r"^[A-Z]{2}[A-Z0-9]{2,13}$")
    vat_id_valid: bool = False

    @model_validator(mode="after")
    def _a_rate_is_a_fraction(self) -> TaxProfile:
        if not Decimal(0) <= self.rate < Decimal(1):
            raise ValueError("rate is a fraction of the price, 0 <= rate < 1 (0.21 is 21 %)")
        if self.vat_id_valid and self.vat_id is None:
            raise ValueError("vat_id_valid needs a vat_id")
        return self


class Customer(DomainModel):
    """A customer of the partner, with its Microsoft tenant once Partner Center has one."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    partner_id: str = Field(min_length=1, max_length=64)
    company_name: str = Field(min_length=1, max_length=200)
    # Partner Center's customer id is the customer's Entra tenant id; None until created.
    tenant_id: UUID | None = None
    domain: DomainName
    contacts: tuple[Contact, ...] = Field(min_length=1)
    billing_currency: CurrencyCode
    payment_terms: PaymentTerms = PaymentTerms()
    sla_tier: SlaTier = "standard"
    # Targets agreed in this customer's contract, over its tier's (docs/rules.md#sla-tier-targets).
    sla_targets: dict[SlaKind, SlaTargetSpec] = Field(default_factory=dict)
    calendar: BusinessCalendar = BusinessCalendar()
    stripe_customer_id: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9]+$")
    # The price list the customer buys from (in its billing currency); None: the partner's
    # standard list (shared/book/catalogue.py, STANDARD_PRICE_LIST).
    price_list_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # The customer's market: the country whose catalogue and Microsoft prices it buys from
    # (Partner Center prices by the customer's market: Learn, "Pricing and offers"). None
    # until known; its subscriptions are then shown without a next-term price.
    country: CountryCode | None = None
    # When a book sync first found the customer missing from Partner Center's customer list
    # (docs/book.md, "Sync"); None while Partner Center lists it. The customer is kept.
    gone_from_partner_center_at: UtcDateTime | None = None
    # The day of the month the customer is billed on, in the partner's time zone
    # (docs/rules.md#billing-window); 28 at most, so every month has it.
    billing_day: int = Field(default=1, ge=1, le=28)
    tax: TaxProfile = TaxProfile()
    # Days before the decision deadline this customer's annual and three-year terms are
    # reminded, over the partner's CSPFLOW_RENEWAL_REMINDER_DAYS (docs/rules.md#reminder-cadence);
    # None: the partner's.
    renewal_reminder_days: tuple[Annotated[int, Field(ge=1, le=365)], ...] | None = Field(
        default=None, min_length=1, max_length=6
    )

    @field_validator("domain", mode="before")
    @classmethod
    def _lower_domain(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def primary_contact(self) -> Contact:
        return next((c for c in self.contacts if c.role == "primary"), self.contacts[0])

    @property
    def billing_contact(self) -> Contact:
        return next((c for c in self.contacts if c.role == "billing"), self.primary_contact)
