"""Event intake: what a webhook or a reconciliation poll puts on an intake queue, and what the
book keeps for it (docs/intake.md).

An event has one business key, the same however it arrives (a webhook, a duplicate
delivery, the audit-record or events poll), so it is acted on once:
- Partner Center: `(EventName, ResourceUri, ResourceChangeUtcDate)`, normalised
  (`partner_center_key`): the resource as its path below `/v1/` (an event's URI is
  `https://api.partnercenter.microsoft.com/webhooks/v1/customers/<c>/subscriptions/<s>`, an
  audit record names the same resource by ids), ids lower case (GUIDs), the instant in UTC;
- Stripe: the event's `id` (`evt_...`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, JsonValue

from shared.models._base import DomainModel, UtcDateTime
from shared.models.events import EventSource

MAX_KEY = 255  # ProcessedEvent.event_id
IntakeVia = Literal["webhook", "audit_poll", "book_sync", "events_poll"]
WorkflowAction = Literal["start", "signal"]
AlertKind = Literal[
    "poison", "dispute", "poll_failed", "order_failed", "renewal", "billing_leakage"
]
PollName = Literal["partner_center_audit", "stripe_events"]


def resource_path(uri: str) -> str:
    """The resource an event names, as its path below `/v1/`, lower case:
    `https://api.partnercenter.microsoft.com/webhooks/v1/customers/C/subscriptions/S` ->
    `customers/c/subscriptions/s`; `.../v1/invoices/G000000001` -> `invoices/g000000001`."""
    path = urlsplit(uri).path if "://" in uri else uri
    path = path.strip("/").lower()
    for prefix in ("webhooks/v1/", "v1/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def instant(when: datetime) -> str:
    """A UTC instant as fixed-width text: `2026-03-02T09:00:00.000000Z`."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("an event's time must be timezone-aware")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def partner_center_key(event_name: str, resource_uri: str, changed_at: datetime) -> str:
    """The business key of a Partner Center event; at most 255 characters (a longer one keeps
    its first part and a SHA-256 of the whole, so it stays unique and readable)."""
    full = f"{event_name.lower()}|{resource_path(resource_uri)}|{instant(changed_at)}"
    if len(full) <= MAX_KEY:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()
    return f"{full[: MAX_KEY - len(digest) - 1]}#{digest}"


class PartnerCenterNotice(DomainModel):
    """A Partner Center event as its webhook payload names it (or as a poll found it)."""

    event_name: str = Field(min_length=1, max_length=200)
    resource_uri: str = Field(min_length=1, max_length=2000)
    resource_name: str = Field(default="", max_length=200)
    audit_uri: str | None = Field(default=None, max_length=2000)
    changed_at: UtcDateTime

    @property
    def key(self) -> str:
        return partner_center_key(self.event_name, self.resource_uri, self.changed_at)

    @property
    def resource(self) -> str:
        return resource_path(self.resource_uri)


class EventMessage(DomainModel):
    """One event on an intake queue: its source, business key, type, how it arrived, and
    what the consumer needs to act. `stripe` is the domain event (shared/payments/events.py)
    as JSON; None when it would not fit a queue message: the consumer then reads the event
    from Stripe by its id."""

    source: EventSource
    key: str = Field(min_length=1, max_length=MAX_KEY)
    type: str = Field(min_length=1, max_length=200)
    via: IntakeVia
    received_at: UtcDateTime
    partner_center: PartnerCenterNotice | None = None
    stripe: dict[str, JsonValue] | None = None


class PendingWorkflowEvent(DomainModel):
    """An event for a workflow that is not deployed yet: what it would have been told (start
    `instance_id`, or signal it `event`), kept in the book for the workflow to read when it
    arrives. Recorded once per (workflow, instance, event key)."""

    workflow: str = Field(min_length=1, max_length=100)
    instance_id: str = Field(min_length=1, max_length=300)
    action: WorkflowAction
    event: str = Field(min_length=1, max_length=100)
    event_key: str = Field(min_length=1, max_length=MAX_KEY)
    source: EventSource
    customer_id: str | None = Field(default=None, max_length=64)
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    recorded_at: UtcDateTime


class OpsAlert(DomainModel):
    """Something an operator must look at: a poison message, a dispute, a failing poll.
    Raised once per id (a repeat of the same cause is the same alert)."""

    id: str = Field(min_length=1, max_length=400)
    at: UtcDateTime
    kind: AlertKind
    summary: str = Field(min_length=1, max_length=1000)
    subject_id: str | None = Field(default=None, max_length=300)


class PollWatermark(DomainModel):
    """How far a reconciliation poll has read: an instant (audit records, the book sync) or
    the last event id seen (Stripe's events)."""

    poll: PollName
    position: str = Field(min_length=1, max_length=300)
    updated_at: UtcDateTime
