"""Onboarding: a storefront order as it arrives (`PlaceOrder`), as the workflow runs it
(`Onboarding`: priced by the book, never by the request) and as the API shows it
(`OrderView`). docs/onboarding.md tells the whole story."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from shared.models._base import DomainModel, UtcDateTime
from shared.models.catalog import BillingCycle, CatalogItemId, TermDuration, billing_fits_term
from shared.models.money import CurrencyCode, Money
from shared.models.order import OrderLine, OrderStatus
from shared.models.party import Contact, CountryCode, DomainName, PaymentTerms, SlaTier
from shared.models.sla import SlaState

OrderId = str
ORDER_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
PaymentSetup = Literal["card_link"]
Locale = str
LOCALE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"
ONMICROSOFT = ".onmicrosoft.com"
MAX_LINES = 20


class PostalAddress(DomainModel):
    address_line1: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(default="", max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)


class NewCustomerOrder(DomainModel):
    """A new customer: who it is, where, and how it pays (a card from the storefront's card
    form, or a card-setup link mailed by cspflow)."""

    company_name: str = Field(min_length=1, max_length=200)
    domain: DomainName = Field(description="The initial domain, e.g. contoso.onmicrosoft.com")
    country: CountryCode
    address: PostalAddress
    contacts: tuple[Contact, ...] = Field(min_length=1, max_length=10)
    billing_currency: CurrencyCode
    sla_tier: SlaTier = "standard"
    locale: Locale = Field(default="en", pattern=LOCALE_PATTERN)
    payment_method: str | None = Field(
        default=None, min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$"
    )
    payment: PaymentSetup | None = None
    payment_terms: PaymentTerms = PaymentTerms()

    @model_validator(mode="after")
    def _checks(self) -> NewCustomerOrder:
        if not self.domain.endswith(ONMICROSOFT) or "." in self.domain[: -len(ONMICROSOFT)]:
            raise ValueError(f"domain must be <prefix>{ONMICROSOFT}")
        card = self.payment_method is not None
        link = self.payment == "card_link"
        if self.payment_terms.collection == "charge_automatically" and card == link:
            raise ValueError("give payment_method (a Stripe PaymentMethod) or payment 'card_link'")
        return self

    @property
    def domain_prefix(self) -> str:
        return self.domain[: -len(ONMICROSOFT)]

    @property
    def primary(self) -> Contact:
        return next((c for c in self.contacts if c.role == "primary"), self.contacts[0])


class OrderLineRequest(DomainModel):
    catalog_item_id: CatalogItemId
    term_duration: TermDuration
    billing_cycle: BillingCycle
    quantity: int = Field(ge=1, le=100_000)
    custom_term_end_date: date | None = None

    @model_validator(mode="after")
    def _billing_fits(self) -> OrderLineRequest:
        if not billing_fits_term(self.term_duration, self.billing_cycle):
            raise ValueError(
                f"billing_cycle {self.billing_cycle} is longer than term {self.term_duration}"
            )
        return self


class PlaceOrder(DomainModel):
    """`POST /api/orders`: a new customer (`customer`) or an existing one (`customer_id`),
    and the lines to buy. Prices come from the book's price lists."""

    order_id: OrderId = Field(pattern=ORDER_ID_PATTERN)
    customer: NewCustomerOrder | None = None
    customer_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    lines: tuple[OrderLineRequest, ...] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _one_customer(self) -> PlaceOrder:
        if (self.customer is None) == (self.customer_id is None):
            raise ValueError("give either customer (a new customer) or customer_id")
        return self


class PricedLine(DomainModel):
    """An order line priced by the book, and what the first invoice charges for it."""

    line: OrderLine
    name: str = Field(min_length=1, max_length=200)
    first_charge: Money
    period_start: UtcDateTime
    period_end: UtcDateTime


class Onboarding(DomainModel):
    """The workflow's input: the order, priced; the customer, new (with its details) or
    existing (with its tenant and Stripe customer)."""

    order_id: OrderId = Field(pattern=ORDER_ID_PATTERN)
    customer_id: str = Field(min_length=1, max_length=64)
    received_at: UtcDateTime
    currency: CurrencyCode
    lines: tuple[PricedLine, ...] = Field(min_length=1, max_length=MAX_LINES)
    new_customer: NewCustomerOrder | None = None
    company_name: str = Field(min_length=1, max_length=200)
    tenant_id: str | None = None
    stripe_customer_id: str | None = None
    contacts: tuple[Contact, ...] = Field(min_length=1)
    locale: Locale = Field(default="en", pattern=LOCALE_PATTERN)
    net_days: int | None = Field(default=None, ge=0, le=90)
    # Where the card-setup page sends the customer once the card is saved (None: an order
    # accepted before this was recorded).
    card_setup_return_url: str | None = Field(default=None, max_length=2000)
    # When the API found a new customer's initial domain free in Partner Center (None: it
    # could not ask, or an existing customer): the workflow then does not ask again.
    domain_free_at: UtcDateTime | None = None

    @property
    def first_total(self) -> Money:
        total = Money.zero(self.currency)
        for priced in self.lines:
            total += priced.first_charge
        return total


StepName = Literal[
    "reserved",
    "domain_checked",
    "customer_created",
    "mca_attested",
    "stripe_customer",
    "card_link_sent",
    "card_saved",
    "first_invoice",
    "cart",
    "checkout",
    "provisioned",
    "recorded",
    "welcomed",
    "refunded",
    "invoice_voided",
    "cancelled_at_microsoft",
]


class StepDone(DomainModel):
    step: StepName
    at: UtcDateTime
    detail: str | None = Field(default=None, max_length=500)


class FirstInvoice(DomainModel):
    stripe_invoice_id: str
    status: str
    amount_due: Money
    amount_paid: Money
    hosted_invoice_url: str | None = None


class OrderProgress(DomainModel):
    """What the workflow publishes as its custom status after each step."""

    status: OrderStatus
    steps: tuple[StepDone, ...] = ()
    tenant_id: str | None = None
    partner_center_order_ids: tuple[str, ...] = ()
    first_invoice: FirstInvoice | None = None
    reason: str | None = Field(default=None, max_length=1000)


class SlaView(DomainModel):
    state: SlaState | None = None
    phase: str | None = None
    deadline: UtcDateTime | None = None


class OrderView(DomainModel):
    """`GET /api/orders/{order_id}`."""

    order_id: OrderId
    customer_id: str
    status: OrderStatus
    received_at: UtcDateTime
    lines: tuple[OrderLine, ...]
    steps: tuple[StepDone, ...] = ()
    tenant_id: str | None = None
    partner_center_order_ids: tuple[str, ...] = ()
    first_invoice: FirstInvoice | None = None
    sla: SlaView | None = None
    reason: str | None = None


class OrderAccepted(DomainModel):
    order_id: OrderId
    customer_id: str
    status: OrderStatus
    first_total: Money
