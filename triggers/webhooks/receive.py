"""What both webhook receivers share: their blueprint, the answer, the refusals and the
objects each request needs (verifiers, the queue), built once per Settings.

A refused request leaves a count and one log line (source, status, reason; never the body)
and nothing else: no queue message, no book row. An accepted one is one queue message and a
200; no Partner Center or Stripe call is made while the sender waits (the one exception is
downloading Partner Center's signing certificate, once per certificate URL, which Microsoft's
verification steps require; the key is then cached until the certificate expires).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import azure.durable_functions as df
from pydantic import Field

from shared.clock import Clock, app_clock
from shared.config import Settings, get_settings
from shared.errors import first_line
from shared.intake import Enqueuer
from shared.models import DomainModel
from shared.models.events import EventSource
from shared.partner_center.webhooks import WebhookVerifier as PartnerCenterVerifier
from shared.payments.events import WebhookVerifier as StripeVerifier
from triggers.api import ApiProblem, BadRequest

bp = df.Blueprint()
log = logging.getLogger("cspflow.webhooks")

_counts: Counter[tuple[EventSource, int]] = Counter()
_counts_lock = threading.Lock()


class WebhookAccepted(DomainModel):
    """The event is queued: it will be acted on once (docs/intake.md)."""

    queued: bool = True
    key: str = Field(description="The event's business key")


def refused_counts() -> dict[tuple[EventSource, int], int]:
    """Requests refused since the process started, by source and status."""
    with _counts_lock:
        return dict(_counts)


def count_refusal(source: EventSource, status: int, reason: str) -> None:
    with _counts_lock:
        _counts[(source, status)] += 1
    log.warning("webhook refused: source=%s status=%s reason=%s", source, status, reason[:200])


def refuse(source: EventSource, status: int, exc: Exception) -> ApiProblem:
    """The problem to answer for a refused delivery (counted and logged, body left out)."""
    reason = first_line(exc)
    count_refusal(source, status, reason)
    if status == 400:
        return BadRequest("malformed_event", reason, field="(body)")
    return ApiProblem(401, "signature_rejected", "the request is not a genuine signed event")


@dataclass
class Intake:
    """What a webhook request needs, made once per Settings (a verifier loads the trust
    roots; the queue client keeps its connections)."""

    settings: Settings
    enqueuer: Enqueuer = field(init=False)

    def __post_init__(self) -> None:
        self.enqueuer = Enqueuer(self.settings)

    @cached_property
    def clock(self) -> Clock:
        return app_clock(self.settings)

    @cached_property
    def partner_center(self) -> PartnerCenterVerifier:
        return PartnerCenterVerifier.from_settings(self.settings)

    @cached_property
    def stripe(self) -> StripeVerifier | None:
        """None when no webhook secret is configured: nothing can be verified."""
        if not self.settings.stripe_webhook_secrets:
            return None
        return StripeVerifier.from_settings(self.settings)

    def now(self) -> datetime:
        return self.clock.now()


_current: tuple[Settings, Intake] | None = None
_current_lock = threading.Lock()


def intake() -> Intake:
    """The Intake of the current Settings."""
    global _current
    settings = get_settings()
    with _current_lock:
        if _current is None or _current[0] is not settings:
            _current = (settings, Intake(settings))
        return _current[1]
