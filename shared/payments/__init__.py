"""Payments through Stripe: the adapter (`StripePayments`), webhook verification
(`WebhookVerifier`), typed results and domain events, and the decline classes for dunning."""

from .client import PARTNER_CUSTOMER_KEY, StripePayments
from .declines import DeclineClass, classify
from .errors import PaymentRejected, PaymentsError, PaymentsUnavailable, WebhookRejected
from .events import (
    CardExpiring,
    CardUpdateCompleted,
    DisputeCreated,
    InvoicePaid,
    InvoicePaymentActionRequired,
    InvoicePaymentFailed,
    OtherEvent,
    PaymentEvent,
    PaymentMethodUpdated,
    WebhookVerifier,
)
from .models import (
    AttachOutcome,
    Card,
    CardUpdateLink,
    ChargeLine,
    CreditNote,
    Customer,
    Decline,
    Invoice,
    InvoiceItem,
    PaymentOutcome,
    Refund,
)

__all__ = [
    "PARTNER_CUSTOMER_KEY",
    "AttachOutcome",
    "Card",
    "CardExpiring",
    "CardUpdateCompleted",
    "CardUpdateLink",
    "ChargeLine",
    "CreditNote",
    "Customer",
    "Decline",
    "DeclineClass",
    "DisputeCreated",
    "Invoice",
    "InvoiceItem",
    "InvoicePaid",
    "InvoicePaymentActionRequired",
    "InvoicePaymentFailed",
    "OtherEvent",
    "PaymentEvent",
    "PaymentMethodUpdated",
    "PaymentOutcome",
    "PaymentRejected",
    "PaymentsError",
    "PaymentsUnavailable",
    "Refund",
    "StripePayments",
    "WebhookRejected",
    "WebhookVerifier",
    "classify",
]
