"""Registering cspflow's callback with Partner Center's webhooks
(https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks): one
registration per partner tenant, for the events Partner Center offers, then a test event.

Every write carries an `MS-RequestId` derived from the step (`ctx.request_id`), so a retried
step is answered as the first was (one registration, one test event).
"""

from __future__ import annotations

import azure.durable_functions as df
from pydantic import Field

from activities.boundary import ActivityContext, WriteInput, activity
from shared.models.webhook_registration import (
    RegistrationAction,
    ValidationEventQuery,
    ValidationEventResult,
    WebhookRegistered,
)
from shared.partner_center import PartnerCenterClient

bp = df.Blueprint()


class RegisterWebhook(WriteInput):
    callback_url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://\S+$")


@activity(bp)
def register_webhook(request: RegisterWebhook, ctx: ActivityContext) -> WebhookRegistered:
    """Register (or update) the callback for every event Partner Center offers (its events
    list), then ask for a test event."""
    client = PartnerCenterClient.from_settings(ctx.settings)
    events = client.webhook_events()
    existing = client.webhook_registration()
    action: RegistrationAction
    if existing is None:
        registration = client.register_webhook(
            request.callback_url, events, request_id=ctx.request_id("register")
        )
        action = "created"
    elif existing.webhook_url != request.callback_url or set(existing.webhook_events) != set(
        events
    ):
        registration = client.register_webhook(
            request.callback_url, events, request_id=ctx.request_id("update"), update=True
        )
        action = "updated"
    else:
        registration, action = existing, "unchanged"
    correlation_id = client.send_test_event(request_id=ctx.request_id("test-event"))
    return WebhookRegistered(
        action=action,
        webhook_url=registration.webhook_url,
        events=registration.webhook_events,
        correlation_id=correlation_id,
    )


@activity(bp)
def read_test_event(query: ValidationEventQuery, ctx: ActivityContext) -> ValidationEventResult:
    """Partner Center's record of the test event's delivery."""
    status = PartnerCenterClient.from_settings(ctx.settings).test_event_status(query.correlation_id)
    return ValidationEventResult(
        correlation_id=query.correlation_id, status=status.status, results=status.results
    )
