"""Partner Center's webhook side: the registration, the documented events, the outbox.

Events are written to the outbox with the instant they become due (delays such as
subscription-updated's up to 48 h, duplicates on demand); delivery.py sends them.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sandbox.partner_center import rules
from sandbox.partner_center.errors import INVALID_INPUT, PcError, invalid, not_found
from sandbox.partner_center.store import Doc, Store

# Events Microsoft documents (https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks,
# https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhook-events). No renewal or
# customer-created event exists, so the sandbox invents none.
WEBHOOK_EVENTS = (
    "test-created",
    "subscription-updated",
    "usagerecords-thresholdExceeded",
    "invoice-ready",
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "granular-admin-relationship-approved",
    "granular-admin-relationship-activated",
    "granular-admin-relationship-terminated",
    "granular-admin-relationship-expired",
    "granular-admin-access-assignment-created",
    "granular-admin-access-assignment-activated",
    "granular-admin-access-assignment-updated",
    "granular-admin-access-assignment-deleted",
    "reseller-relationship-accepted-by-customer",
    "indirect-reseller-relationship-accepted-by-customer",
    "dap-admin-relationship-approved",
    "dap-admin-relationship-terminated",
    "dap-admin-relationship-terminated-by-microsoft",
    "azure-fraud-event-detected",
    "new-commerce-migration-created",
    "new-commerce-migration-completed",
    "new-commerce-migration-failed",
    "new-commerce-migration-schedule-failed",
)

MAX_UPDATE_DELAY = timedelta(hours=48)

# The documented events no API call causes (a customer accepts an invitation, a GDAP
# relationship changes): the admin API raises them, with the ResourceName of 4.2. The
# others come only from what they describe (subscription-updated from a change,
# invoice-ready from an invoice, test-created from a validation request).
EXTERNAL_EVENTS = {
    "reseller-relationship-accepted-by-customer": "customer",
    "indirect-reseller-relationship-accepted-by-customer": "customer",
    "granular-admin-relationship-approved": "GranularAdminRelationship",
    "granular-admin-relationship-activated": "GranularAdminRelationship",
    "granular-admin-relationship-terminated": "GranularAdminRelationship",
    "granular-admin-relationship-expired": "GranularAdminRelationship",
}


class Notifier:
    def __init__(
        self,
        store: Store,
        partner_tenant_id: str,
        subscription_updated_delay: timedelta,
        duplicate_rate: float,
        seed: int | None,
        subscription_updated_delay_random: bool = False,
    ) -> None:
        self.store = store
        self.partner_tenant_id = partner_tenant_id
        self.subscription_updated_delay = subscription_updated_delay
        self.subscription_updated_delay_random = subscription_updated_delay_random
        # Its own stream, so a seed gives the same delays whatever else draws numbers.
        self._delays = random.Random(None if seed is None else f"{seed}:subscription-updated")
        self.duplicate_rate = duplicate_rate
        self.base_url = "https://api.partnercenter.microsoft.com"
        self.on_event: Callable[[], None] = lambda: None
        self._random = random.Random(seed)

    def registration(self) -> Doc | None:
        raw = self.store.meta("webhook-registration")
        return None if raw is None else dict(json.loads(raw))

    def register(self, body: Doc, now: datetime, replace: bool) -> Doc:
        url = body.get("WebhookUrl", body.get("webhookUrl"))
        events = body.get("WebhookEvents", body.get("webhookEvents"))
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise invalid("WebhookUrl", "must be an absolute URL")
        if not isinstance(events, list) or not events:
            raise invalid("WebhookEvents", "at least one event is required")
        unknown = [e for e in events if e not in WEBHOOK_EVENTS]
        if unknown:
            raise invalid("WebhookEvents", f"unknown events: {', '.join(map(str, unknown))}")
        existing = self.registration()
        if existing is not None and not replace:
            raise PcError(409, INVALID_INPUT, "A registration exists; update it with PUT.")
        if existing is None and replace:
            raise not_found("registration")
        registration = {
            "SubscriberId": existing["SubscriberId"] if existing else self.partner_tenant_id,
            "WebhookUrl": url,
            "WebhookEvents": events,
            "SignatureTokenToMsSignatureHeader": bool(
                body.get("SignatureTokenToMsSignatureHeader", False)
            ),
            "LastModifiedTimestamp": rules.iso(now),
        }
        self.store.set_meta("webhook-registration", json.dumps(registration))
        return registration

    def validation_event(self, now: datetime) -> Doc:
        registration = self.registration()
        if registration is None or "test-created" not in registration["WebhookEvents"]:
            raise invalid("WebhookEvents", "register for test-created to send a test event")
        correlation_id = str(uuid.uuid4())
        self.store.put(
            "validation",
            correlation_id,
            {
                "correlationId": correlation_id,
                "partnerId": self.partner_tenant_id,
                "status": "pending",
                "callbackUrl": registration["WebhookUrl"],
                "results": [],
            },
        )
        self.emit(
            "test-created",
            "test",
            f"{self.base_url}/webhooks/v1/registration/validationEvents/{correlation_id}",
            now,
        )
        return {"correlationId": correlation_id}

    def validation_result(self, correlation_id: str) -> Doc:
        found = self.store.get("validation", correlation_id)
        if found is None:
            raise not_found("validation event")
        return found

    def emit(
        self,
        event_name: str,
        resource_name: str,
        resource_uri: str,
        when: datetime,
        delay: timedelta = timedelta(0),
        audit_uri: str | None = None,
    ) -> None:
        registration = self.registration()
        if registration is None or event_name not in registration["WebhookEvents"]:
            return
        event = {
            "EventName": event_name,
            "ResourceUri": resource_uri,
            "ResourceName": resource_name,
            "AuditUri": audit_uri,
            "ResourceChangeUtcDate": rules.iso(when),
        }
        payload = json.dumps(event).encode()
        copies = 2 if self._random.random() < self.duplicate_rate else 1
        for _ in range(copies):
            self.store.enqueue(payload, rules.iso(when + delay))
        self.on_event()

    def _subscription_updated_delay(self) -> timedelta:
        """subscription-updated may arrive up to 48 hours after the change
        (https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhook-events):
        a fixed delay, or with the random option anywhere from 0 to 48 h, drawn per event."""
        if self.subscription_updated_delay_random:
            return timedelta(seconds=self._delays.randint(0, int(MAX_UPDATE_DELAY.total_seconds())))
        return self.subscription_updated_delay

    def subscription_updated(self, sub: Doc, when: datetime, audit_id: str | None = None) -> None:
        """`audit_id`: the audit record of the API call that made the change, named in the
        event's AuditUri; changes time makes (renewal, expiry) have none, and AuditUri is
        null, as the payload allows
        (https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks)."""
        self.emit(
            "subscription-updated",
            "subscription",
            f"{self.base_url}/webhooks/v1/customers/{sub['customerId']}/subscriptions/{sub['id']}",
            when,
            delay=self._subscription_updated_delay(),
            audit_uri=None if audit_id is None else f"{self.base_url}/v1/auditrecords/{audit_id}",
        )
