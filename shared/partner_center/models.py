"""Typed views of the Partner Center resources the client returns (Microsoft's camelCase
JSON, as the REST reference on Microsoft Learn documents it, e.g.
https://learn.microsoft.com/en-us/partner-center/developer/cart-resources). Unknown fields
are ignored, so a field Microsoft adds never breaks a read. Amounts are Decimal (parsed from
JSON as Decimal), times UTC.

Subscriptions and their next-term instructions are the domain's own mirrors of Microsoft's
resource (shared.models.Subscription); everything else the client reads is modelled here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.models import BillingCycle, CatalogItemId, PartnerCenterModel, TermDuration, UtcDateTime


class PcModel(PartnerCenterModel):
    """Partner Center's JSON as it comes: camelCase aliases, unknown fields ignored."""


class Address(PcModel):
    first_name: str
    last_name: str
    address_line1: str = Field(alias="addressLine1")
    city: str
    state: str = ""
    postal_code: str
    country: str = Field(min_length=2, max_length=2)
    phone_number: str = ""


class NewCustomer(PcModel):
    """What cspflow knows when it creates a customer (the required fields of
    https://learn.microsoft.com/en-us/partner-center/developer/create-a-customer)."""

    domain_prefix: str = Field(pattern=r"^[a-z0-9]{1,27}$")
    company_name: str = Field(min_length=1)
    email: str = Field(min_length=3)
    culture: str = "en-US"
    language: str = Field(default="en", min_length=2, max_length=2)
    address: Address
    organization_registration_number: str | None = None

    @property
    def domain(self) -> str:
        return f"{self.domain_prefix}.onmicrosoft.com"


class CustomerTenant(PcModel):
    """A customer as Partner Center knows it: its tenant id is its id."""

    id: str
    domain: str
    company_name: str
    relationship_to_partner: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CustomerTenant:
        profile = body.get("companyProfile", {})
        return cls(
            id=body["id"],
            domain=profile.get("domain", ""),
            company_name=profile.get("companyName")
            or body.get("billingProfile", {}).get("companyName", ""),
            relationship_to_partner=body.get("relationshipToPartner", ""),
        )


class BillingProfile(PcModel):
    """A customer's billing profile: its billing contact and address (Microsoft Learn,
    https://learn.microsoft.com/en-us/partner-center/developer/get-all-of-a-customer-s-billing-profiles)."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    culture: str = ""
    language: str = ""
    country: str = ""

    @model_validator(mode="before")
    @classmethod
    def _country_of_the_address(cls, data: Any) -> Any:
        if isinstance(data, dict) and "country" not in data:
            address = data.get("defaultAddress") or {}
            if isinstance(address, dict) and address.get("country"):
                return {**data, "country": str(address["country"]).upper()}
        return data


class SeekLink(PcModel):
    """Where a paged listing goes on (`links.next` of a collection): its URI and the headers
    to send with it (the continuation token), kept to read the next page later."""

    uri: str
    headers: dict[str, str] = Field(default_factory=dict)


class CustomerPage(PcModel):
    """One page of the partner's customers, and the link to the next (None: the last)."""

    customers: tuple[CustomerTenant, ...]
    next: SeekLink | None = None


class CreatedCustomer(PcModel):
    customer: CustomerTenant
    admin_user_name: str
    # Shown once by Partner Center (Microsoft Learn, create-a-customer); the caller hands it
    # on and never stores it.
    admin_password: str = Field(repr=False)


class AgreementContact(PcModel):
    first_name: str
    last_name: str
    email: str
    phone_number: str | None = None


class Agreement(PcModel):
    template_id: str
    type: str
    date_agreed: UtcDateTime
    primary_contact: AgreementContact
    user_id: str | None = None


class CatalogTerm(PcModel):
    duration: TermDuration
    billing_cycles: tuple[str, ...] = ()


class Availability(PcModel):
    id: str
    product_id: str
    sku_id: str
    catalog_item_id: str
    terms: tuple[CatalogTerm, ...] = ()


class Product(PcModel):
    id: str
    title: str


class Sku(PcModel):
    id: str
    product_id: str
    title: str
    minimum_quantity: int = 1
    maximum_quantity: int = 0


def _price_sheet_time(value: object) -> object:
    """A price sheet's effective date: ISO 8601 (`2021-10-01T00:00:00.0000000Z`, seven
    fractional digits) or Learn's `2/1/2023 0:00` / `3/1/2018 12:00:00 AM`, always UTC."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    iso = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?", text)
    if iso:
        fraction = (iso.group(2) or "0")[:6]
        return datetime.fromisoformat(f"{iso.group(1)}.{fraction:0<6}").replace(tzinfo=UTC)
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a price sheet date")


PriceSheetTime = Annotated[datetime, BeforeValidator(_price_sheet_time)]


class PriceSheetRow(BaseModel):
    """One row of the new commerce license-based price sheet (CSV, PascalCase headers:
    Learn, "Pricing and offers", new commerce price list). `unit_price` is per licence for
    the row's term and billing plan; `billing_plan` is `Monthly`, `Annual`, `Triennial`, or
    `None` for a trial."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    product_title: str = Field(alias="ProductTitle")
    product_id: str = Field(alias="ProductId", min_length=1)
    sku_id: str = Field(alias="SkuId", min_length=1)
    sku_title: str = Field(alias="SkuTitle")
    term_duration: str = Field(alias="TermDuration")
    billing_plan: str = Field(alias="BillingPlan")
    market: str = Field(alias="Market")
    currency: str = Field(alias="Currency")
    unit_price: Decimal = Field(alias="UnitPrice")
    effective_start_date: PriceSheetTime = Field(alias="EffectiveStartDate")
    effective_end_date: PriceSheetTime = Field(alias="EffectiveEndDate")
    tags: str = Field(default="", alias="Tags")
    erp_price: Decimal | None = Field(default=None, alias="ERP Price")

    @field_validator("erp_price", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def in_force(self, at: datetime) -> bool:
        return self.effective_start_date <= at < self.effective_end_date


class CartLine(PcModel):
    catalog_item_id: CatalogItemId
    quantity: int = Field(ge=1)
    term_duration: TermDuration
    billing_cycle: BillingCycle
    custom_term_end_date: date | None = None
    friendly_name: str | None = None


class Pricing(PcModel):
    list_price: Decimal = Decimal(0)
    price: Decimal = Decimal(0)
    extended_price: Decimal = Decimal(0)


class CartLineItem(PcModel):
    id: int
    catalog_item_id: str
    quantity: int
    term_duration: str
    billing_cycle: str
    currency_code: str = ""
    pricing: Pricing | None = None


class Cart(PcModel):
    id: str
    status: str
    expiration_timestamp: UtcDateTime | None = None
    line_items: tuple[CartLineItem, ...]


class OrderLineItem(PcModel):
    line_item_number: int
    offer_id: str
    subscription_id: str | None = None
    quantity: int
    term_duration: str = ""


class PartnerCenterOrder(PcModel):
    id: str
    reference_customer_id: str
    status: str
    creation_date: UtcDateTime
    line_items: tuple[OrderLineItem, ...]
    currency_code: str = ""
    total_price: Decimal = Decimal(0)


class OrderError(PcModel):
    order_group_id: str = ""
    code: str | int = ""
    description: str = ""


class CheckoutResult(PcModel):
    orders: tuple[PartnerCenterOrder, ...]
    order_errors: tuple[OrderError, ...] = ()


class ProvisioningStatus(PcModel):
    line_item_number: int
    status: str
    subscription_id: str | None = None


class Eligibility(PcModel):
    is_eligible: bool
    transition_type: str = ""
    errors: tuple[dict[str, Any], ...] = ()


class DestinationEligibility(PcModel):
    is_eligible: bool
    subscription_id: str
    errors: tuple[dict[str, Any], ...] = ()


class TransitionEligibility(PcModel):
    catalog_item_id: str
    title: str = ""
    quantity: int = 0
    eligibilities: tuple[Eligibility, ...] = ()
    subscription_eligibilities: tuple[DestinationEligibility, ...] = ()

    @property
    def eligible(self) -> bool:
        return any(e.is_eligible for e in self.eligibilities)


class TransitionRequest(PcModel):
    to_catalog_item_id: str
    quantity: int = Field(ge=1)
    transition_type: Literal["transition_only", "transition_with_license_transfer"] = (
        "transition_only"
    )
    to_subscription_id: str | None = None


class TransitionEvent(PcModel):
    name: str
    status: str
    timestamp: UtcDateTime | None = None


class Transition(PcModel):
    operation_id: str | None = None
    from_subscription_id: str = ""
    to_subscription_id: str | None = None
    to_catalog_item_id: str
    quantity: int
    transition_type: str
    status: str = ""
    events: tuple[TransitionEvent, ...] = Field(
        default=(), validation_alias=AliasChoices("events", "Events")
    )


class CotermDate(PcModel):
    allowed_custom_term_end_date_type: str
    allowed_custom_term_end_date: UtcDateTime
    coterm_subscription_ids: tuple[str, ...] = ()


class AuditRecord(PcModel):
    id: str
    customer_id: str = ""
    operation_type: str
    operation_status: str
    operation_date: UtcDateTime
    resource_type: str = ""
    application_id: str = ""
    user_principal_name: str = ""


class PartnerCenterInvoice(PcModel):
    id: str
    invoice_date: UtcDateTime
    billing_period_start_date: UtcDateTime | None = None
    billing_period_end_date: UtcDateTime | None = None
    total_charges: Decimal
    currency_code: str


class ReconLineItem(PcModel):
    """A billed or unbilled NCE reconciliation line (Microsoft Learn,
    https://learn.microsoft.com/en-us/partner-center/developer/invoice-resources and
    https://learn.microsoft.com/en-us/partner-center/billing/modern-invoice-reconciliation-file).

    Read whatever the casing of its keys: the v1 line-item API answers in camelCase
    (`chargeType`), while Microsoft Graph's partner billing exports name their attributes in
    PascalCase (`ChargeType`, `AvailabilityId`: Learn, "attributeSet enum type" for the
    partner billing API). Keys are matched to the fields case-insensitively."""

    @model_validator(mode="before")
    @classmethod
    def _any_casing(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        aliases = {
            (field.alias or name).lower(): field.alias or name
            for name, field in cls.model_fields.items()
        }
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.setdefault(aliases.get(key.lower(), key) if isinstance(key, str) else key, value)
        return out

    customer_id: str
    subscription_id: str = ""
    order_id: str = ""
    product_id: str = ""
    sku_id: str = ""
    availability_id: str = ""
    charge_type: str
    unit_price: Decimal
    effective_unit_price: Decimal
    quantity: int
    billable_quantity: Decimal | None = None
    subtotal: Decimal
    currency: str
    charge_start_date: UtcDateTime
    charge_end_date: UtcDateTime
    invoice_number: str = ""


class WebhookRegistration(PcModel):
    subscriber_id: str = Field(
        default="", validation_alias=AliasChoices("SubscriberId", "subscriberId")
    )
    webhook_url: str = Field(validation_alias=AliasChoices("WebhookUrl", "webhookUrl"))
    webhook_events: tuple[str, ...] = Field(
        validation_alias=AliasChoices("WebhookEvents", "webhookEvents")
    )


class ValidationEventStatus(PcModel):
    correlation_id: str
    status: str
    results: tuple[dict[str, Any], ...] = ()
