"""Pydantic models of the domain. Every model round-trips through `model_dump(mode="json")`."""

from shared.models._base import DomainModel, PartnerCenterModel, Rate, UtcDateTime
from shared.models.billing import Invoice, InvoiceLine, PaymentAttempt
from shared.models.catalog import BillingCycle, CatalogItemId, Offer, TermDuration
from shared.models.kpi import KpiEvent
from shared.models.money import CurrencyCode, CurrencyMismatchError, Money, currency_exponent
from shared.models.order import Order, OrderLine
from shared.models.party import BusinessCalendar, Contact, Customer, Partner, PaymentTerms, SlaTier
from shared.models.sla import SlaClock, SlaKind, SlaState
from shared.models.subscription import (
    RefundableBatch,
    RefundableQuantity,
    ScheduledNextTermInstructions,
    ScheduledProduct,
    SeatBatch,
    Subscription,
)

__all__ = [
    "BillingCycle",
    "BusinessCalendar",
    "CatalogItemId",
    "Contact",
    "CurrencyCode",
    "CurrencyMismatchError",
    "Customer",
    "DomainModel",
    "Invoice",
    "InvoiceLine",
    "KpiEvent",
    "Money",
    "Offer",
    "Order",
    "OrderLine",
    "Partner",
    "PartnerCenterModel",
    "PaymentAttempt",
    "PaymentTerms",
    "Rate",
    "RefundableBatch",
    "RefundableQuantity",
    "ScheduledNextTermInstructions",
    "ScheduledProduct",
    "SeatBatch",
    "SlaClock",
    "SlaKind",
    "SlaState",
    "SlaTier",
    "Subscription",
    "TermDuration",
    "UtcDateTime",
    "currency_exponent",
]
