"""Reconciliation polls: what webhooks missed, found by asking (docs/intake.md, "Polls").

Webhooks are delivered at least once, except when they are not: Partner Center gives up
after 10 attempts (then the event sits in its offline queue), a registration can lapse, and
`subscription-updated` may come 48 h late
(https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhook-events);
Stripe stops retrying after 3 days (https://docs.stripe.com/webhooks#retries). So:

| poll | when | reads | enqueues |
|---|---|---|---|
| `partner_center_audit_poll` | hourly, :05 | the audit records (`GET /v1/auditrecords`) since the watermark, minus an hour of overlap | `subscription-updated` for every subscription an audit record names |
| `stripe_events_poll` | hourly, :10 | `GET /v1/events` after the last event seen | every event of a type the routing table acts on |
| `poison_queue_watch` | hourly, :15 | the poison queues' length | nothing: an ops alert while a poison queue holds messages |

What a poll finds goes through the same queue, consumer and business key as a webhook: an
audit record names the change's resource and time, which is the webhook's
(EventName, ResourceUri, ResourceChangeUtcDate); a Stripe event is the same event id. So a
webhook that arrives after the poll found its event (or before) is acted on once. Events the
book has already processed are not enqueued again. What time alone changes in Partner Center
(a renewal, an expiry) has no audit record: the nightly book sync (workflows/book_sync.py)
finds it, corrects the book and enqueues a `subscription-updated` for each subscription it
corrected or added, so the workflows waiting on one hear of it (docs/book.md#sync).

A poll that fails raises an ops alert and leaves its watermark where it was: the next run
reads the same window again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.book import Book
from shared.errors import first_line
from shared.intake import Enqueuer, partner_center_message, stripe_message, subscription_notice
from shared.models.intake import OpsAlert, PartnerCenterNotice, PollWatermark, instant
from shared.partner_center import PartnerCenterClient
from shared.payments import PaymentRejected, StripePayments
from shared.payments.events import to_domain
from shared.storage import EVENT_QUEUES, poison_queue
from triggers.queues.routing import ROUTES

log = logging.getLogger("cspflow.polls")

AUDIT_OVERLAP = timedelta(hours=1)  # audit records may be written a little after the fact
FIRST_AUDIT_WINDOW = timedelta(days=1)  # a first run reads the last day
MAX_EVENT_PAGES = 50  # Stripe: 5,000 events per run at most; the next run goes on
ACTED_ON = frozenset(e for row in ROUTES if row.source == "stripe" for e in row.events)


@dataclass(frozen=True)
class PollReport:
    found: int = 0
    enqueued: int = 0
    already_processed: int = 0


def audit_notices(record: dict[str, Any]) -> list[PartnerCenterNotice]:
    """The `subscription-updated` events an audit record stands for: a subscription changed
    (`Subscription`: its id, or a transition's source and target), or bought (`Order`: each
    line's subscription). Other records name no subscription."""
    kind = str(record.get("resourceType", "")).lower()
    customer_id = str(record.get("customerId") or "")
    if kind not in ("subscription", "order") or not customer_id:
        return []
    try:
        value = json.loads(record.get("resourceNewValue") or "{}")
    except ValueError:
        return []
    if not isinstance(value, dict):
        return []
    if kind == "subscription":
        named = [value.get(k) for k in ("id", "fromSubscriptionId", "toSubscriptionId")]
    else:
        named = [line.get("subscriptionId") for line in value.get("lineItems") or []]
    ids = list(dict.fromkeys(str(i) for i in named if isinstance(i, str) and i))
    when = datetime.fromisoformat(str(record["operationDate"]).replace("Z", "+00:00"))
    return [subscription_notice(customer_id, i, when, str(record.get("id") or "")) for i in ids]


def _enqueue_new(
    book: Book, enqueuer: Enqueuer, messages: Iterable[Any], report: PollReport
) -> PollReport:
    found = enqueued = done = 0
    for message in messages:
        found += 1
        if book.processed_events.seen(message.source, message.key) is not None:
            done += 1
            continue
        enqueuer.enqueue(message)
        enqueued += 1
    return PollReport(
        report.found + found, report.enqueued + enqueued, report.already_processed + done
    )


def poll_partner_center_audit(
    book: Book, client: PartnerCenterClient, enqueuer: Enqueuer, now: datetime
) -> PollReport:
    """Enqueue a `subscription-updated` for every subscription the audit records since the
    watermark name; move the watermark to the newest record read."""
    mark = book.watermarks.find("partner_center_audit")
    start = (
        datetime.fromisoformat(mark.position) - AUDIT_OVERLAP
        if mark is not None
        else now - FIRST_AUDIT_WINDOW
    )
    newest = datetime.fromisoformat(mark.position) if mark is not None else start
    records = list(client.audit_records(start))

    def messages() -> Iterator[Any]:
        for record in records:
            for notice in audit_notices(record):
                yield partner_center_message(notice, via="audit_poll", received_at=now)

    report = _enqueue_new(book, enqueuer, messages(), PollReport())
    for record in records:
        when = datetime.fromisoformat(str(record["operationDate"]).replace("Z", "+00:00"))
        newest = max(newest, when)
    book.watermarks.save(
        PollWatermark(poll="partner_center_audit", position=instant(newest), updated_at=now)
    )
    return report


def poll_stripe_events(
    book: Book, payments: StripePayments, enqueuer: Enqueuer, now: datetime
) -> PollReport:
    """Enqueue every event of a type cspflow acts on created after the last one seen; a first
    run reads the newest page only (as does a run whose last event Stripe no longer lists:
    Stripe keeps events 30 days). The watermark moves after each page."""
    mark = book.watermarks.find("stripe_events")
    after = mark.position if mark is not None else None
    report = PollReport()
    for _ in range(MAX_EVENT_PAGES):
        try:
            events, more = payments.events_after(after)
        except PaymentRejected as exc:
            if exc.code != "resource_missing" or after is None:
                raise
            log.warning("stripe event %s is no longer listed: reading the newest page", after)
            mark, after = None, None
            events, more = payments.events_after(None)
        if not events:
            break
        messages = []
        for raw in events:
            if raw.get("type") not in ACTED_ON:
                continue
            try:
                event = to_domain(raw)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("stripe event %s cannot be read: %s", raw.get("id"), first_line(exc))
                continue
            messages.append(stripe_message(event, via="events_poll", received_at=now))
        report = _enqueue_new(book, enqueuer, messages, report)
        after = str(events[-1]["id"])
        book.watermarks.save(PollWatermark(poll="stripe_events", position=after, updated_at=now))
        if not more or mark is None:
            break
    return report


def watch_poison_queues(book: Book, enqueuer: Enqueuer, now: datetime) -> dict[str, int]:
    """The poison queues' lengths; an ops alert (once a day per queue) for each not empty."""
    lengths: dict[str, int] = {}
    for name, queue in EVENT_QUEUES.items():
        client = enqueuer.client(poison_queue(queue))
        try:
            count = client.get_queue_properties().approximate_message_count or 0
        except ResourceNotFoundError:  # no poison queue yet: nothing ever failed
            count = 0
        lengths[name] = count
        if count:
            book.alerts.raise_alert(
                OpsAlert(
                    id=f"poison-queue:{name}:{now:%Y-%m-%d}",
                    at=now,
                    kind="poison",
                    summary=f"{count} message(s) in {poison_queue(queue)}: fix the cause, then "
                    f"POST /api/ops/poison/{name}/redrive",
                    subject_id=poison_queue(queue),
                )
            )
    return lengths


def poll_failed(book: Book, poll: str, now: datetime, exc: Exception) -> None:
    book.alerts.raise_alert(
        OpsAlert(
            id=f"poll:{poll}:{now:%Y-%m-%dT%H}",
            at=now,
            kind="poll_failed",
            summary=f"{poll} failed: {type(exc).__name__}: {first_line(exc)[:300]}; the next "
            "run reads the same window again",
            subject_id=poll,
        )
    )
