"""Putting events on the intake queues: one message shape for every way an event arrives.

A webhook receiver (triggers/webhooks/), a reconciliation poll (triggers/timers/) and a
redrive (triggers/ops.py) all enqueue the same `EventMessage`, keyed by the event's business
key, so the consumer (triggers/queues/) acts on an event once however often and however it
arrives (docs/intake.md).

A queue message holds at most 64 KiB, base64 included (the Functions host's encoding): 48 KiB
of JSON. A Stripe event whose domain form would not fit goes without it; the consumer reads
the event from Stripe by its id.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from shared.config import Settings
from shared.errors import TransientError, first_line
from shared.models.intake import EventMessage, IntakeVia, PartnerCenterNotice
from shared.payments.events import PaymentEvent
from shared.storage import PARTNER_CENTER_EVENTS_QUEUE, STRIPE_EVENTS_QUEUE, queue_client

PC_RESOURCE = "https://api.partnercenter.microsoft.com"
SUBSCRIPTION_UPDATED = "subscription-updated"
MAX_MESSAGE_JSON = 48 * 1024  # 64 KiB once base64-encoded
QUEUE_OF = {"partner_center": PARTNER_CENTER_EVENTS_QUEUE, "stripe": STRIPE_EVENTS_QUEUE}


class QueueUnavailable(TransientError):
    """The intake queue could not be written: the sender should retry (503)."""

    code = "storage_unavailable"


def partner_center_message(
    notice: PartnerCenterNotice, *, via: IntakeVia, received_at: datetime
) -> EventMessage:
    return EventMessage(
        source="partner_center",
        key=notice.key,
        type=notice.event_name,
        via=via,
        received_at=received_at,
        partner_center=notice,
    )


def subscription_notice(
    customer_id: str, subscription_id: str, changed_at: datetime, audit_id: str | None = None
) -> PartnerCenterNotice:
    return PartnerCenterNotice(
        event_name=SUBSCRIPTION_UPDATED,
        resource_uri=f"{PC_RESOURCE}/webhooks/v1/customers/{customer_id}/subscriptions/"
        f"{subscription_id}",
        resource_name="subscription",
        audit_uri=None if audit_id is None else f"{PC_RESOURCE}/v1/auditrecords/{audit_id}",
        changed_at=changed_at,
    )


def stripe_type(event: PaymentEvent) -> str:
    """The Stripe event type (`invoice.paid`, ... or the type of an event not acted on)."""
    return event.type if event.kind == "other" else event.kind


def stripe_message(event: PaymentEvent, *, via: IntakeVia, received_at: datetime) -> EventMessage:
    message = EventMessage(
        source="stripe",
        key=event.event_id,
        type=stripe_type(event),
        via=via,
        received_at=received_at,
        stripe=event.model_dump(mode="json"),
    )
    if len(message.model_dump_json()) > MAX_MESSAGE_JSON:
        message = message.model_copy(update={"stripe": None})
    return message


class Enqueuer:
    """Sends messages to the intake queues (creating a queue on first use)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    def client(self, queue: str) -> QueueClient:
        with self._lock:
            if queue not in self._clients:
                self._clients[queue] = queue_client(self._settings, queue)
            return self._clients[queue]

    def enqueue(self, message: EventMessage) -> None:
        self.send(QUEUE_OF[message.source], message.model_dump_json())

    def send(self, queue: str, text: str) -> Any:
        client = self.client(queue)
        try:
            try:
                return client.send_message(text)
            except ResourceNotFoundError:  # the first message ever: the queue is made now
                with contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                return client.send_message(text)
        except AzureError as exc:
            raise QueueUnavailable(f"queue {queue}: {first_line(exc)[:200]}") from exc
