"""Stripe webhooks, verified with the SDK and mapped to the domain events cspflow acts on.

Verification is the SDK's own `Webhook.construct_event` (HMAC-SHA256 over `t.payload`,
tolerance in seconds against the wall clock). During secret rotation Stripe signs with every
active secret and Settings holds more than one; an event is genuine if any secret verifies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import stripe
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.config import Settings

from .errors import MalformedEvent, WebhookRejected
from .models import Currency, Invoice, Timestamp, expandable_id


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    created: Timestamp
    livemode: bool


class InvoicePaymentFailed(_Event):
    """A collection attempt failed. `invoice.next_payment_attempt` None: Stripe stopped retrying."""

    kind: Literal["invoice.payment_failed"] = "invoice.payment_failed"
    invoice: Invoice


class InvoicePaid(_Event):
    """The invoice is paid. Stripe sends `invoice.paid` whenever an invoice becomes paid (also
    out of band) and `invoice.payment_succeeded` when a payment attempt succeeded: both mean
    the same to cspflow (https://docs.stripe.com/billing/subscriptions/webhooks)."""

    kind: Literal["invoice.paid", "invoice.payment_succeeded"] = "invoice.paid"
    invoice: Invoice


class InvoiceOverdue(_Event):
    """An invoice on invoice terms (`send_invoice`) is past its due date, as many days after
    it as the account's automation says
    (https://docs.stripe.com/api/events/types#event_types-invoice.overdue)."""

    kind: Literal["invoice.overdue"] = "invoice.overdue"
    invoice: Invoice


class InvoicePaymentActionRequired(_Event):
    """The customer must authenticate (3-D Secure) before the invoice can be paid."""

    kind: Literal["invoice.payment_action_required"] = "invoice.payment_action_required"
    invoice: Invoice


class CardExpiring(_Event):
    """Stripe: a card "will expire at the end of the month".

    Stripe sends it for legacy card sources only, not for PaymentMethods (mozilla/fxa#11798
    relays Stripe's answer), so it is a bonus, never the trigger: expiring cards are found
    with `StripePayments.list_cards` and `Card.expires_before`.
    """

    kind: Literal["customer.source.expiring"] = "customer.source.expiring"
    customer_id: str | None
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentMethodUpdated(_Event):
    """The card network reissued a saved card and Stripe updated it (new expiry or number)."""

    kind: Literal["payment_method.automatically_updated"] = "payment_method.automatically_updated"
    customer_id: str | None
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentMethodAttached(_Event):
    """A card was saved to a customer (a card update link, the dashboard, the API)."""

    kind: Literal["payment_method.attached"] = "payment_method.attached"
    customer_id: str | None
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class CardUpdateCompleted(_Event):
    """The customer saved a new card through a card update link (Checkout, setup mode)."""

    kind: Literal["checkout.session.completed"] = "checkout.session.completed"
    session_id: str
    customer_id: str | None
    setup_intent_id: str
    metadata: dict[str, str]


class DisputeCreated(_Event):
    kind: Literal["charge.dispute.created"] = "charge.dispute.created"
    dispute_id: str
    charge_id: str
    amount: int
    currency: Currency
    reason: str


class OtherEvent(_Event):
    """An event cspflow does not act on; acknowledged and recorded, nothing more."""

    kind: Literal["other"] = "other"
    type: str


PaymentEvent = Annotated[
    InvoicePaymentFailed
    | InvoicePaid
    | InvoicePaymentActionRequired
    | InvoiceOverdue
    | CardExpiring
    | PaymentMethodUpdated
    | PaymentMethodAttached
    | CardUpdateCompleted
    | DisputeCreated
    | OtherEvent,
    Field(discriminator="kind"),
]
PAYMENT_EVENT: TypeAdapter[PaymentEvent] = TypeAdapter(PaymentEvent)


class WebhookVerifier:
    def __init__(self, secrets: Sequence[str], tolerance_s: int = 300) -> None:
        if not secrets:
            raise ValueError("at least one webhook secret (whsec_...) is required")
        self._secrets = tuple(secrets)
        self._tolerance_s = tolerance_s

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookVerifier:
        return cls(
            [s.get_secret_value() for s in settings.stripe_webhook_secrets],
            settings.stripe_webhook_tolerance_s,
        )

    def verify(self, payload: bytes | str, signature_header: str | None) -> PaymentEvent:
        """The domain event of a genuine delivery; WebhookRejected for anything else."""
        if not signature_header:
            raise WebhookRejected("missing Stripe-Signature header")
        if isinstance(payload, bytes):
            try:
                payload = payload.decode("utf-8")
            except UnicodeDecodeError:  # unverifiable: the signature is over UTF-8 text
                raise WebhookRejected("the payload is not UTF-8") from None
        event: stripe.Event | None = None
        for secret in self._secrets:
            try:
                event = stripe.Webhook.construct_event(
                    payload, signature_header, secret, tolerance=self._tolerance_s
                )
                break
            except stripe.SignatureVerificationError:
                continue
            except ValueError as exc:  # signed (verified first), but not a JSON event
                raise MalformedEvent(f"malformed event payload: {exc}") from exc
        if event is None:
            raise WebhookRejected(
                "signature does not verify with any configured secret, or is stale"
            )
        try:
            return to_domain(event.to_dict())
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(f"event does not have the expected shape: {exc}") from exc


def to_domain(event: dict[str, Any]) -> PaymentEvent:
    """Map a Stripe event (as a dict) to its domain event."""
    base = {"event_id": event["id"], "created": event["created"], "livemode": event["livemode"]}
    obj: dict[str, Any] = event["data"]["object"]
    kind = event["type"]
    if kind in (
        "invoice.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_action_required",
        "invoice.overdue",
    ):
        invoice = {**obj, "customer_id": expandable_id(obj["customer"])}
        return PAYMENT_EVENT.validate_python({**base, "kind": kind, "invoice": invoice})
    if kind in (
        "customer.source.expiring",
        "payment_method.automatically_updated",
        "payment_method.attached",
    ):
        # A `card` source carries its fields at the top; a PaymentMethod under `card`.
        card = obj.get("card") if obj.get("object") == "payment_method" else obj
        if not isinstance(card, dict):
            raise ValueError(f"{kind} without card details")
        return PAYMENT_EVENT.validate_python(
            {
                **base,
                "kind": kind,
                "customer_id": expandable_id(obj.get("customer")),
                "payment_method_id": obj["id"],
                "brand": card.get("brand", "unknown"),
                "last4": card["last4"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
            }
        )
    if kind == "checkout.session.completed" and obj.get("mode") == "setup":
        return PAYMENT_EVENT.validate_python(
            {
                **base,
                "kind": kind,
                "session_id": obj["id"],
                "customer_id": expandable_id(obj.get("customer")),
                "setup_intent_id": expandable_id(obj["setup_intent"]),
                "metadata": obj.get("metadata") or {},
            }
        )
    if kind == "charge.dispute.created":
        return PAYMENT_EVENT.validate_python(
            {
                **base,
                "kind": kind,
                "dispute_id": obj["id"],
                "charge_id": expandable_id(obj["charge"]),
                "amount": obj["amount"],
                "currency": obj["currency"],
                "reason": obj["reason"],
            }
        )
    return OtherEvent(**base, type=kind)
