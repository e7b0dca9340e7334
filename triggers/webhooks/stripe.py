"""`POST /api/webhooks/stripe`: Stripe's event deliveries.

Checked as Stripe documents (https://docs.stripe.com/webhooks#verify-events): the body at
most 1 MiB (413); `Stripe-Signature` verified with the SDK's `construct_event` against every
configured secret (during a rotation Stripe signs with each active one), the timestamp within
the tolerance (300 s by default) of the wall clock (401 otherwise); then the event's shape
(400). A genuine event is queued and answered 200 at once: Stripe wants a 2xx before any
logic that could time out (https://docs.stripe.com/webhooks#acknowledge-events-immediately).
"""

from __future__ import annotations

import azure.functions as func
from pydantic import ConfigDict, Field, JsonValue

from shared.errors import ConfigurationError
from shared.intake import stripe_message
from shared.models import DomainModel
from shared.payments.errors import MalformedEvent, WebhookRejected
from triggers.api import API, Call, Header, RawBody
from triggers.webhooks.receive import WebhookAccepted, bp, count_refusal, intake, refuse


class StripeEventBody(DomainModel):
    """A Stripe event object (https://docs.stripe.com/api/events/object)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="`evt_...`: the event's id, its business key")
    object: str = "event"
    type: str = Field(description="`invoice.payment_failed`, `invoice.paid`, ...")
    created: int
    livemode: bool
    data: dict[str, JsonValue]


BODY = RawBody(
    schema=StripeEventBody,
    headers=(Header("Stripe-Signature", "`t=<unix time>,v1=<HMAC-SHA256>[,v1=...]`"),),
    on_refused=lambda status, detail: count_refusal("stripe", status, detail),
)


@API.route(
    bp,
    "POST",
    "webhooks/stripe",
    summary="Receive a Stripe event (signed with the endpoint's secret)",
    responses={200: WebhookAccepted},
    problems=(400, 401, 503),
    auth=func.AuthLevel.ANONYMOUS,
    raw_body=BODY,
    tags=("webhooks",),
)
def stripe_webhook(call: Call[None]) -> WebhookAccepted:
    """Anonymous: the signature is the authentication. 401 when it is missing, wrong, made
    with a secret no longer configured, or older than the tolerance; 400 when a signed body
    is not an event; 413 over 1 MiB. A genuine event is queued (`cspflow-events-stripe`) and
    acted on once, later."""
    receiving = intake()
    verifier = receiving.stripe
    signature = call.req.headers.get("stripe-signature")
    try:
        if verifier is None:  # no secret configured: nothing this deployment can verify
            if signature:
                raise WebhookRejected("no Stripe webhook secret is configured")
            raise WebhookRejected("missing Stripe-Signature header")
        event = verifier.verify(call.raw, signature)
    except MalformedEvent as exc:
        raise refuse("stripe", 400, exc) from None
    except (WebhookRejected, ConfigurationError) as exc:
        raise refuse("stripe", 401, exc) from None
    message = stripe_message(event, via="webhook", received_at=receiving.now())
    receiving.enqueuer.enqueue(message)
    return WebhookAccepted(key=message.key)
