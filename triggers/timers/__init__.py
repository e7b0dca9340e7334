"""Timer triggers: the reconciliation polls of event intake (polls.py, docs/intake.md).

Each timer reads its settings, runs its poll and logs what it found; a failure raises an ops
alert and is logged by the host (a timer is not retried: the next run reads the same window
again). Disable one like any function, with the app setting
`AzureWebJobs.<function name>.Disabled = true`
(https://learn.microsoft.com/en-us/azure/azure-functions/disable-function).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared.book import Book
from shared.clock import app_clock
from shared.config import get_settings
from shared.intake import Enqueuer
from shared.partner_center import PartnerCenterClient
from shared.payments import StripePayments
from triggers.timers.polls import (
    poll_failed,
    poll_partner_center_audit,
    poll_stripe_events,
    watch_poison_queues,
)

bp = df.Blueprint()
log = logging.getLogger("cspflow.polls")

HOURLY_AUDIT = "0 5 * * * *"
HOURLY_STRIPE = "0 10 * * * *"
HOURLY_POISON = "0 15 * * * *"


def _run(poll: str, body: Callable[[Book, Enqueuer, datetime], Any]) -> None:
    settings = get_settings()
    now = app_clock(settings).now()
    book = Book(settings, clock=app_clock(settings))
    try:
        result = body(book, Enqueuer(settings), now)
    except Exception as exc:
        try:
            poll_failed(book, poll, now, exc)
        finally:
            log.error("%s failed: %s", poll, settings.redact(str(exc))[:300])
        raise
    log.info("%s: %s", poll, result)


@bp.timer_trigger(arg_name="timer", schedule=HOURLY_AUDIT)
def partner_center_audit_poll(timer: func.TimerRequest) -> None:
    """Partner Center's audit records since the watermark: changes no webhook reported."""
    _run(
        "partner_center_audit_poll",
        lambda book, enqueuer, now: poll_partner_center_audit(
            book, PartnerCenterClient.from_settings(get_settings()), enqueuer, now
        ),
    )


@bp.timer_trigger(arg_name="timer", schedule=HOURLY_STRIPE)
def stripe_events_poll(timer: func.TimerRequest) -> None:
    """Stripe's events after the last one seen."""
    _run(
        "stripe_events_poll",
        lambda book, enqueuer, now: poll_stripe_events(
            book, StripePayments.from_settings(get_settings()), enqueuer, now
        ),
    )


@bp.timer_trigger(arg_name="timer", schedule=HOURLY_POISON)
def poison_queue_watch(timer: func.TimerRequest) -> None:
    """An ops alert while an intake poison queue holds messages."""
    _run("poison_queue_watch", lambda book, enqueuer, now: watch_poison_queues(book, enqueuer, now))
