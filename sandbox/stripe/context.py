"""What one API request sees: the store, the instant it runs at, and how to emit events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import resources
from .errors import StripeError
from .schedule import BillingSchedule
from .store import Store

JSON = dict[str, Any]


class CardDeclined(StripeError):
    """A 402 card error. The attempt happened, so its traces (failed charge, events) stay."""

    commit = True

    def rolled_back(self) -> StripeError:
        """The same error for a request that must leave nothing behind (a create that failed)."""
        return StripeError(
            self.status,
            self.type,
            self.message,
            code=self.code,
            param=self.param,
            decline_code=self.decline_code,
            extra=self.extra,
        )


@dataclass
class Ctx:
    store: Store
    now: datetime
    base_url: str
    api_version: str
    webhook_url: str | None
    # The endpoint's `enabled_events`: the types delivered to it (None: every type, `*`).
    webhook_events: frozenset[str] | None = None
    schedule: BillingSchedule = field(default_factory=BillingSchedule)
    request_id: str | None = None
    idempotency_key: str | None = None
    on_event: Callable[[], None] = lambda: None
    emitted: list[str] = field(default_factory=list)

    @property
    def ts(self) -> int:
        return int(self.now.timestamp())

    def emit(self, type_: str, obj: JSON, previous: JSON | None = None) -> JSON:
        """Record an event with a snapshot of `obj` and queue it for the webhook endpoint."""
        evt = resources.event(
            self.ts,
            type_,
            obj,
            api_version=self.api_version,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
            previous_attributes=previous,
        )
        if self.webhook_url is not None and (
            self.webhook_events is None or type_ in self.webhook_events
        ):
            evt["pending_webhooks"] = 1
            self.store.enqueue_delivery(evt["id"], self.webhook_url, self.now.timestamp())
        self.store.insert(evt)
        self.emitted.append(evt["id"])
        self.on_event()
        return evt
