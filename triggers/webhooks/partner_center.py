"""`POST /api/webhooks/partner-center`: Partner Center's event callbacks.

Checked as Microsoft documents
(https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks), by the
verifier in shared/partner_center/webhooks.py: the body at most 1 MiB (413); the signature
(`Authorization: Signature ...` or `x-ms-signature`), certificate URL and algorithm headers
present, the certificate URL on the allow-list, the certificate chaining to a trusted
Microsoft root with organisation Microsoft Corporation, RSA-SHA256 over the raw body bytes
(401 otherwise); then the JSON shape (`EventName`, `ResourceUri`, `ResourceChangeUtcDate`:
400). A genuine event is queued and answered 200 at once (docs/intake.md).
"""

from __future__ import annotations

import azure.functions as func
from pydantic import ConfigDict, Field

from shared.intake import partner_center_message
from shared.models import DomainModel
from shared.models.intake import PartnerCenterNotice
from shared.partner_center.webhooks import MalformedEvent, WebhookRejected
from triggers.api import API, Call, Header, RawBody
from triggers.webhooks.receive import WebhookAccepted, bp, count_refusal, intake, refuse


class PartnerCenterEventBody(DomainModel):
    """A Partner Center webhook event, as Microsoft documents its payload."""

    model_config = ConfigDict(extra="allow")

    EventName: str = Field(description="`subscription-updated`, `invoice-ready`, ...")
    ResourceUri: str = Field(description="The resource that changed")
    ResourceName: str | None = None
    AuditUri: str | None = Field(default=None, description="The audit record of the change")
    ResourceChangeUtcDate: str = Field(description="When it changed (ISO 8601, UTC)")


BODY = RawBody(
    schema=PartnerCenterEventBody,
    headers=(
        Header(
            "x-ms-certificate-url",
            "Where Partner Center's signing certificate is published (allow-listed)",
        ),
        Header("x-ms-signature-algorithm", "`rsa-sha256`"),
        Header(
            "x-ms-signature",
            "`Signature <base64 RSA-SHA256 of the body>`, when the registration asks for it; "
            "otherwise the same value in `Authorization`",
            required=False,
        ),
    ),
    on_refused=lambda status, detail: count_refusal("partner_center", status, detail),
)


@API.route(
    bp,
    "POST",
    "webhooks/partner-center",
    summary="Receive a Partner Center event (signed by Microsoft)",
    responses={200: WebhookAccepted},
    problems=(400, 401, 503),
    auth=func.AuthLevel.ANONYMOUS,
    raw_body=BODY,
    tags=("webhooks",),
)
def partner_center_webhook(call: Call[None]) -> WebhookAccepted:
    """Anonymous: the signature is the authentication. 401 when it is missing, wrong or
    not Microsoft's; 400 when a signed body is not an event; 413 over 1 MiB. A genuine event
    is queued (`cspflow-events-partner-center`) and acted on once, later."""
    receiving = intake()
    headers = dict(call.req.headers.items())
    try:
        event = receiving.partner_center.verify(headers, call.raw)
    except MalformedEvent as exc:
        raise refuse("partner_center", 400, exc) from None
    except WebhookRejected as exc:
        raise refuse("partner_center", 401, exc) from None
    notice = PartnerCenterNotice(
        event_name=event.event_name,
        resource_uri=event.resource_uri,
        resource_name=event.resource_name,
        audit_uri=event.audit_uri,
        changed_at=event.changed_at,
    )
    message = partner_center_message(notice, via="webhook", received_at=receiving.now())
    receiving.enqueuer.enqueue(message)
    return WebhookAccepted(key=message.key)
