"""Event intake's test world: the app's environment on real sandboxes and Azurite (app_env),
a fresh book (its own table prefix) and empty intake queues per test, and what a test needs
to play Partner Center and Stripe: signed deliveries, the webhook functions called as the
worker calls them, the queues read back, the consumer run on what is queued.

    def test_x(world: World):
        resp = world.post_stripe(world.stripe_body("invoice.paid", {...}))
        assert world.queued("stripe") == [...]
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
import stripe
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from sandbox.partner_center.delivery import sign as sign_partner_center
from sandbox.stripe.server import StripeSandbox
from shared.book import Book
from shared.config import Settings, get_settings, reset_settings
from shared.models.intake import EventMessage
from shared.payments import StripePayments
from tests.app_functions import user_function
from tests.sandbox.partner_center.harness import Harness
from tests.sandbox.stripe.harness import API_KEY, WEBHOOK_SECRET
from triggers.queues.consumer import Consumer, Orchestrations, services
from triggers.queues.routing import Context

QUEUES = {
    "partner_center": "cspflow-events-partner-center",
    "stripe": "cspflow-events-stripe",
}
PC_PUBLIC = "https://api.partnercenter.microsoft.com"


@dataclass
class FakeOrchestrations(Orchestrations):
    """A Durable client that remembers: instances started (with their input) and events
    raised; `running` instances accept signals."""

    started: dict[str, tuple[str, Any]] = field(default_factory=dict)
    starts: list[str] = field(default_factory=list)
    signals: list[tuple[str, str, Any]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    async def start(self, name: str, instance_id: str, data: Any) -> bool:
        self.starts.append(instance_id)
        if instance_id in self.started:
            return False
        self.started[instance_id] = (name, data)
        self.running.add(instance_id)
        return True

    async def signal(self, instance_id: str, event: str, data: Any) -> bool:
        if instance_id not in self.running:
            return False
        self.signals.append((instance_id, event, data))
        return True


@dataclass
class World:
    pc: Harness
    stripe_sandbox: StripeSandbox
    azurite: Azurite
    settings: Settings

    @property
    def book(self) -> Book:
        return services().book

    @property
    def payments(self) -> StripePayments:
        return StripePayments(API_KEY, self.stripe_sandbox.base_url)

    @property
    def sdk(self) -> stripe.StripeClient:
        return stripe.StripeClient(API_KEY, base_addresses={"api": self.stripe_sandbox.base_url})

    # -- Partner Center's side ------------------------------------------------------------

    def pc_body(
        self, event: str, resource: str, changed_at: datetime, audit_uri: str | None = None
    ) -> bytes:
        return json.dumps(
            {
                "EventName": event,
                "ResourceUri": f"{PC_PUBLIC}/webhooks/v1/{resource}",
                "ResourceName": resource.split("/")[-2] if "/" in resource else resource,
                "AuditUri": audit_uri,
                "ResourceChangeUtcDate": changed_at.astimezone(UTC)
                .isoformat()
                .replace("+00:00", "Z"),
            }
        ).encode()

    def pc_headers(self, body: bytes, **overrides: str | None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Signature {sign_partner_center(self.pc.sandbox.keys.signing_key, body)}",
            "x-ms-certificate-url": self.pc.sandbox.certificate_url,
            "x-ms-signature-algorithm": "rsa-sha256",
        }
        for name, value in overrides.items():
            name = name.replace("_", "-")
            headers.pop(name, None)
            headers.pop(name.title(), None)
            if value is not None:
                headers[name] = value
        return headers

    def post_partner_center(
        self, body: bytes, headers: dict[str, str] | None = None
    ) -> func.HttpResponse:
        return call(
            "partner_center_webhook",
            "webhooks/partner-center",
            body,
            self.pc_headers(body) if headers is None else headers,
        )

    # -- Stripe's side --------------------------------------------------------------------

    @staticmethod
    def stripe_headers(
        payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None
    ) -> dict[str, str]:
        signature = stripe.WebhookSignature.generate_signature_header(
            payload.decode(), secret, timestamp=at or int(time.time())
        )
        return {"Content-Type": "application/json", "Stripe-Signature": signature}

    def post_stripe(
        self, payload: bytes, headers: dict[str, str] | None = None
    ) -> func.HttpResponse:
        return call(
            "stripe_webhook",
            "webhooks/stripe",
            payload,
            self.stripe_headers(payload) if headers is None else headers,
        )

    # -- the queues -----------------------------------------------------------------------

    def queue(self, source: str, poison: bool = False) -> QueueClient:
        name = QUEUES[source] + ("-poison" if poison else "")
        return QueueClient.from_connection_string(self.azurite.connection_string, name)

    def queued(self, source: str, poison: bool = False) -> list[EventMessage]:
        """Every message on the queue, left there (peeked)."""
        try:
            peeked = self.queue(source, poison).peek_messages(max_messages=32)
        except ResourceNotFoundError:
            return []
        return [EventMessage.model_validate_json(base64.b64decode(m.content)) for m in peeked]

    def take(self, source: str, limit: int = 32) -> list[EventMessage]:
        """Messages received and deleted from the queue (oldest first, at most `limit`)."""
        client = self.queue(source)
        taken: list[EventMessage] = []
        try:
            while len(taken) < limit:
                batch = list(client.receive_messages(max_messages=min(32, limit - len(taken))))
                if not batch:
                    break
                for m in batch:
                    taken.append(EventMessage.model_validate_json(base64.b64decode(m.content)))
                    client.delete_message(m)
        except ResourceNotFoundError:
            pass
        return taken

    def consumer(
        self, orchestrations: Orchestrations | None = None, registered: set[str] | None = None
    ) -> Consumer:
        here = services()
        return Consumer(
            here.book,
            here.context(),
            orchestrations or FakeOrchestrations(),
            registered or set(),
        )

    def context(self) -> Context:
        return services().context()


def call(name: str, route: str, body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    """The HTTP function `name`, called as the worker calls it."""
    req = func.HttpRequest("POST", f"http://127.0.0.1:7071/api/{route}", headers=headers, body=body)
    response: func.HttpResponse = user_function(name)(req)
    return response


def clear(azurite: Azurite) -> None:
    for queue in QUEUES.values():
        for name in (queue, queue + "-poison"):
            client = QueueClient.from_connection_string(azurite.connection_string, name)
            with contextlib.suppress(ResourceNotFoundError):
                client.clear_messages()
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()


@pytest.fixture
def world(
    app_env: pytest.MonkeyPatch, pc: Harness, sandbox: StripeSandbox, azurite: Azurite
) -> Iterator[World]:
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    reset_settings()
    clear(azurite)
    yield World(pc, sandbox, azurite, get_settings())
    clear(azurite)


# -- arranging the book and the sandboxes ------------------------------------------------


def pc_message(event: str, resource: str, changed_at: datetime) -> EventMessage:
    from shared.intake import partner_center_message
    from shared.models.intake import PartnerCenterNotice

    notice = PartnerCenterNotice(
        event_name=event,
        resource_uri=f"{PC_PUBLIC}/webhooks/v1/{resource}",
        changed_at=changed_at,
    )
    return partner_center_message(notice, via="webhook", received_at=changed_at)


def stripe_message_of(event: dict[str, Any]) -> EventMessage:
    from shared.intake import stripe_message
    from shared.payments import to_domain

    return stripe_message(to_domain(event), via="webhook", received_at=datetime.now(UTC))


def book_customer(
    world: World,
    *,
    tenant: str | None = None,
    stripe_customer: str | None = None,
    customer_id: str | None = None,
) -> str:
    from tests.shared.book.records import customer

    customer_id = customer_id or f"c-{uuid.uuid4().hex[:10]}"
    world.book.customers.add(
        customer(customer_id, tenant_id=tenant, stripe_customer_id=stripe_customer)
    )
    return customer_id


def latest_event(world: World, event_type: str, **match: str) -> dict[str, Any]:
    """The newest Stripe event of a type (whose object has the given fields)."""
    for event in world.sdk.v1.events.list({"type": event_type, "limit": 100}).data:
        found = event.to_dict()
        obj = found["data"]["object"]
        if all(obj.get(k) == v for k, v in match.items()):
            return found
    raise AssertionError(f"no {event_type} event with {match}")


def call_route(name: str, route: str, route_params: dict[str, str]) -> func.HttpResponse:
    """A POST route without a body, called as the worker calls it."""
    req = func.HttpRequest(
        "POST", f"http://127.0.0.1:7071/api/{route}", body=b"", route_params=route_params
    )
    response: func.HttpResponse = user_function(name)(req)
    return response
