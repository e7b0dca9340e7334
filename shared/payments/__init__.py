"""Payments through Stripe: the adapter (`StripePayments`), webhook verification
(`WebhookVerifier`), typed results and domain events. Declines carry the dunning policy's
class (shared.policy.dunning.classify_decline), the one table of Stripe decline codes."""

from .client import PARTNER_CUSTOMER_KEY, StripePayments
from .errors import (
    MalformedEvent,
    PaymentRejected,
    PaymentsError,
    PaymentsUnavailable,
    WebhookRejected,
)
from .events import (
    CardExpiring,
    CardUpdateCompleted,
    DisputeCreated,
    InvoicePaid,
    InvoicePaymentActionRequired,
    InvoicePaymentFailed,
    OtherEvent,
    PaymentEvent,
    PaymentMethodAttached,
    PaymentMethodUpdated,
    WebhookVerifier,
    to_domain,
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
    "DisputeCreated",
    "Invoice",
    "InvoiceItem",
    "InvoicePaid",
    "InvoicePaymentActionRequired",
    "InvoicePaymentFailed",
    "MalformedEvent",
    "OtherEvent",
    "PaymentEvent",
    "PaymentMethodAttached",
    "PaymentMethodUpdated",
    "PaymentOutcome",
    "PaymentRejected",
    "PaymentsError",
    "PaymentsUnavailable",
    "Refund",
    "StripePayments",
    "WebhookRejected",
    "WebhookVerifier",
    "to_domain",
]
