"""Pydantic models of the domain. Every model round-trips through `model_dump(mode="json")`."""

from shared.models._base import DomainModel, PartnerCenterModel, Rate, UtcDateTime
from shared.models.billing import Invoice, InvoiceLine, PaymentAttempt
from shared.models.catalog import BillingCycle, CatalogItemId, Offer, TermDuration, offer_key
from shared.models.dunning import DunningCase, DunningCaseRecord, DunningStatus
from shared.models.events import EventSource, ProcessedEvent
from shared.models.kpi import KpiEvent
from shared.models.licence_change import ChangeKind, ChangeStatus, LicenceChange
from shared.models.money import CurrencyCode, CurrencyMismatchError, Money, currency_exponent
from shared.models.notice import Notice, NoticeKind
from shared.models.order import Order, OrderLine
from shared.models.party import BusinessCalendar, Contact, Customer, Partner, PaymentTerms, SlaTier
from shared.models.pricing import CustomerPricing, FixedPrice, Markup, PriceList, PriceRule
from shared.models.renewal import Renewal, RenewalDecision, RenewalOutcome
from shared.models.sla import SlaClock, SlaKind, SlaState
from shared.models.subscription import (
    RefundableBatch,
    RefundableQuantity,
    ScheduledNextTermInstructions,
    ScheduledProduct,
    SeatBatch,
    Subscription,
    SubscriptionRecord,
)
from shared.models.timeline import FieldChange, TimelineEntry, TimelineKind

__all__ = [
    "BillingCycle",
    "BusinessCalendar",
    "CatalogItemId",
    "ChangeKind",
    "ChangeStatus",
    "Contact",
    "CurrencyCode",
    "CurrencyMismatchError",
    "Customer",
    "CustomerPricing",
    "DomainModel",
    "DunningCase",
    "DunningCaseRecord",
    "DunningStatus",
    "EventSource",
    "FieldChange",
    "FixedPrice",
    "Invoice",
    "InvoiceLine",
    "KpiEvent",
    "LicenceChange",
    "Markup",
    "Money",
    "Notice",
    "NoticeKind",
    "Offer",
    "Order",
    "OrderLine",
    "Partner",
    "PartnerCenterModel",
    "PaymentAttempt",
    "PaymentTerms",
    "PriceList",
    "PriceRule",
    "ProcessedEvent",
    "Rate",
    "RefundableBatch",
    "RefundableQuantity",
    "Renewal",
    "RenewalDecision",
    "RenewalOutcome",
    "ScheduledNextTermInstructions",
    "ScheduledProduct",
    "SeatBatch",
    "SlaClock",
    "SlaKind",
    "SlaState",
    "SlaTier",
    "Subscription",
    "SubscriptionRecord",
    "TermDuration",
    "TimelineEntry",
    "TimelineKind",
    "UtcDateTime",
    "currency_exponent",
    "offer_key",
]
