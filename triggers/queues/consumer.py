"""The intake queues' consumers: each event acted on once (docs/intake.md, "Exactly once").

`intake_blueprint(...)` registers one queue-triggered function per source
(`partner_center_events` on `cspflow-events-partner-center`, `stripe_events` on
`cspflow-events-stripe`). Each message is an `EventMessage` (shared/intake.py) and is
consumed in this order:

1. **Seen?** The book's processed-events table (`Events`, keyed by source and business
   key) is read; an event already there is done: the message is acknowledged.
2. **Act.** The routing table (routing.py) brings the book in line with the source of
   truth and returns the workflow steps, which are delivered: a registered orchestrator's
   instance (id derived from the business key) is started unless it already runs or ran, or
   is signalled if it is running; for a workflow not deployed, the step is kept in the
   book's `WorkflowInbox` under (workflow, instance, event key).
3. **Record.** The event is inserted into `Events` with what was done. The insert decides:
   a conflict means a concurrent duplicate recorded it first, which is fine.

Why acting before recording gives exactly once: every part of the act is idempotent on the
business key, so the act may run more than once and still take effect once.
- Book writes converge: the record is made what the source of truth says; a second run
  finds nothing to change and writes nothing. Timeline entries, inbox rows and alerts are
  inserts under ids derived from the event key: a second insert is "already done".
- A start uses the instance id derived from the business key and starts only when no such
  instance is running or done: a second run finds it (two racing starts collapse onto one).
- A signal carries the event key (`event_key` in its payload); a workflow receiving a key
  it has seen ignores it. That is the contract for every workflow intake signals.

So the one window, a crash after acting and before recording, repeats only that idempotent
act when the message comes back (the queue redelivers anything not deleted once its lease
runs out). Recording first would lose the event in the same window (recorded, never acted
on), which is why the insert comes last. tests/triggers/queues/test_sigkill.py kills the
host in that window and in others and counts every effect.

A message that fails (a source of truth unreachable, a bug) is left on the queue; the host
retries it and after `maxDequeueCount` (host.json, 5) moves it to `<queue>-poison`. On the
last attempt the consumer raises an ops alert first (book `OpsAlerts`, logged at ERROR);
`POST /api/ops/poison/{queue}/redrive` puts it back once the cause is fixed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import azure.durable_functions as df
import azure.functions as func
from pydantic import JsonValue, ValidationError

from shared.book import Book, Recorded
from shared.clock import app_clock
from shared.config import Settings, get_settings
from shared.errors import first_line
from shared.models.events import ProcessedEvent
from shared.models.intake import EventMessage, OpsAlert, PendingWorkflowEvent
from shared.partner_center import PartnerCenterClient
from shared.payments import StripePayments
from shared.storage import PARTNER_CENTER_EVENTS_QUEUE, STRIPE_EVENTS_QUEUE
from triggers.queues.routing import Context, Plan, Step, route_of

log = logging.getLogger("cspflow.intake")

CONNECTION = "AzureWebJobsStorage"
# host.json extensions.queues.maxDequeueCount: the attempt after which the host moves a
# failing message to the poison queue (a test keeps the two equal).
MAX_DEQUEUE_COUNT = 5
RESTARTABLE = (
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Canceled,
)
LIVE = (
    df.OrchestrationRuntimeStatus.Running,
    df.OrchestrationRuntimeStatus.Pending,
    df.OrchestrationRuntimeStatus.ContinuedAsNew,
)

Checkpoint = Callable[[str, EventMessage], None]
"""Called between the consumer's steps (`acted`, `recorded`): a no-op in the product; a
test host uses it to kill itself at a chosen point."""


def no_checkpoint(step: str, message: EventMessage) -> None:
    return None


class Orchestrations(Protocol):
    """The Durable client, as much of it as intake uses."""

    async def start(self, name: str, instance_id: str, data: Any) -> bool:
        """Start the instance unless it is running or done; whether this call started it."""
        ...

    async def signal(self, instance_id: str, event: str, data: Any) -> bool:
        """Raise `event` on the instance if it is running; whether it was raised."""
        ...


@dataclass
class DurableOrchestrations:
    client: df.DurableOrchestrationClient

    async def _status(self, instance_id: str) -> Any:
        status = await self.client.get_status(instance_id)
        return status.runtime_status

    async def start(self, name: str, instance_id: str, data: Any) -> bool:
        status = await self._status(instance_id)
        if status is not None and status not in RESTARTABLE:
            return False
        try:
            await self.client.start_new(name, instance_id, data)
        except Exception:
            # A concurrent duplicate started it between our read and our start: that is
            # the collapse working. Anything else is a real failure.
            status = await self._status(instance_id)
            if status is None or status in RESTARTABLE:
                raise
            return False
        return True

    async def signal(self, instance_id: str, event: str, data: Any) -> bool:
        if await self._status(instance_id) not in LIVE:
            return False
        try:
            await self.client.raise_event(instance_id, event, data)
        except Exception:
            # It ended between our read and the signal: nobody waits for it any more.
            if await self._status(instance_id) in LIVE:
                raise
            return False
        return True


@dataclass
class Consumer:
    """Consumes intake messages with one book, the sources of truth and the Durable
    client. `registered` is the set of orchestrators this deployment runs."""

    book: Book
    context: Context
    orchestrations: Orchestrations
    registered: Collection[str]
    checkpoint: Checkpoint = no_checkpoint

    async def consume(self, message: EventMessage) -> str:
        """Act on the message's event once; what was done (recorded with the event)."""
        seen = await asyncio.to_thread(self.book.processed_events.seen, message.source, message.key)
        if seen is not None:
            return f"already processed: {seen.outcome}"
        row = route_of(message)
        plan: Plan = await asyncio.to_thread(row.handler, message, self.context)
        done = [await self._deliver(step, message) for step in plan.steps]
        outcome = "; ".join([plan.outcome, *done])
        self.checkpoint("acted", message)
        recorded = await asyncio.to_thread(self._record, message, outcome)
        self.checkpoint("recorded", message)
        if recorded.already_done:
            return f"processed concurrently: {recorded.record.outcome}"
        return outcome

    def _record(self, message: EventMessage, outcome: str) -> Recorded[ProcessedEvent]:
        # On a worker thread: the clock may be read over HTTP (a simulation's), which must
        # not block the event loop the host serves that clock from.
        return self.book.processed_events.record(
            ProcessedEvent(
                source=message.source,
                event_id=message.key,
                type=message.type[:200],
                received_at=message.received_at,
                processed_at=self.book.clock.now(),
                outcome=outcome[:500],
            )
        )

    async def _deliver(self, step: Step, message: EventMessage) -> str:
        payload: dict[str, JsonValue] = {
            **step.payload,
            "event_key": message.key,
            "event_type": message.type,
            "source": message.source,
        }
        target = f"{step.workflow} {step.instance_id}"
        if step.workflow in self.registered:
            if step.action == "start":
                started = await self.orchestrations.start(step.workflow, step.instance_id, payload)
                if started:
                    return f"started {target}"
                if not step.or_signal:
                    return f"{target} already started"
                raised = await self.orchestrations.signal(step.instance_id, step.event, payload)
                return (
                    f"{target} running: signalled {step.event}"
                    if raised
                    else f"{target} already started"
                )
            raised = await self.orchestrations.signal(step.instance_id, step.event, payload)
            return f"signalled {target} {step.event}" if raised else f"{target} not running"
        return await asyncio.to_thread(self._keep, step, message, payload)

    def _keep(self, step: Step, message: EventMessage, payload: dict[str, JsonValue]) -> str:
        target = f"{step.workflow} {step.instance_id}"
        inbox = self.book.workflow_inbox
        if (
            step.speculative
            and not inbox.of_instance(step.workflow, step.instance_id, limit=1).items
        ):
            return f"{target}: nothing kept for it, no {step.event} kept"
        inbox.record(
            PendingWorkflowEvent(
                workflow=step.workflow,
                instance_id=step.instance_id,
                action=step.action,
                event=step.event,
                event_key=message.key,
                source=message.source,
                customer_id=step.customer_id,
                payload=payload,
                recorded_at=self.book.clock.now(),
            )
        )
        return f"{step.action} {target} kept for the workflow (not deployed)"


def parse(msg: func.QueueMessage) -> EventMessage:
    return EventMessage.model_validate_json(msg.get_body())


def raise_poison_alert(book: Book, queue: str, msg: func.QueueMessage, exc: Exception) -> None:
    """The message's last attempt failed: the host moves it to the poison queue next."""
    try:
        about = json.loads(msg.get_body())
        key = str(about.get("key")) if isinstance(about, dict) else None
    except ValueError:
        key = None
    subject = key or msg.id or "unknown"
    book.alerts.raise_alert(
        OpsAlert(
            id=f"poison:{queue}:{subject}"[:400],
            at=book.clock.now(),
            kind="poison",
            summary=(
                f"event {subject} on {queue} failed {msg.dequeue_count} times and goes to "
                f"{queue}-poison: {type(exc).__name__}: {first_line(exc)[:300]}; fix the cause, "
                f"then POST /api/ops/poison/<queue>/redrive"
            ),
            subject_id=subject[:300],
        )
    )


@dataclass
class Services:
    """The book and clients a consumer needs, made once per Settings (the Partner Center
    client keeps its MSAL token cache and connections; both are made on first use)."""

    settings: Settings
    book: Book = field(init=False)

    def __post_init__(self) -> None:
        self.book = Book(self.settings, clock=app_clock(self.settings))
        self._lock = threading.Lock()

    @cached_property
    def _partner_center(self) -> PartnerCenterClient:
        return PartnerCenterClient.from_settings(self.settings)

    @cached_property
    def _stripe(self) -> StripePayments:
        return StripePayments.from_settings(self.settings)

    def partner_center(self) -> PartnerCenterClient:
        with self._lock:
            return self._partner_center

    def stripe(self) -> StripePayments:
        with self._lock:
            return self._stripe

    def context(self) -> Context:
        return Context(self.book, self.partner_center, self.stripe)


_services: tuple[Settings, Services] | None = None
_services_lock = threading.Lock()


def services() -> Services:
    global _services
    settings = get_settings()
    with _services_lock:
        if _services is None or _services[0] is not settings:
            _services = (settings, Services(settings))
        return _services[1]


async def handle(
    queue: str,
    msg: func.QueueMessage,
    client: df.DurableOrchestrationClient,
    registered: Collection[str],
    checkpoint: Checkpoint,
) -> None:
    """One delivery of one message: consume it, or fail (the host retries; on the last
    attempt an ops alert first)."""
    here = await asyncio.to_thread(services)
    try:
        message = parse(msg)
        consumer = Consumer(
            here.book, here.context(), DurableOrchestrations(client), registered, checkpoint
        )
        outcome = await consumer.consume(message)
    except Exception as exc:
        detail = first_line(exc) if not isinstance(exc, ValidationError) else "not an event"
        log.warning(
            "intake %s: message %s failed (attempt %s): %s: %s",
            queue,
            msg.id,
            msg.dequeue_count,
            type(exc).__name__,
            here.settings.redact(detail)[:300],
        )
        if (msg.dequeue_count or 1) >= MAX_DEQUEUE_COUNT:
            try:
                await asyncio.to_thread(raise_poison_alert, here.book, queue, msg, exc)
            except Exception:  # the alert is best effort; the poison queue still holds it
                log.exception("intake %s: could not record the poison alert", queue)
        raise
    log.info("intake %s: %s %s: %s", queue, message.type, message.key, outcome[:300])


def intake_blueprint(
    *,
    orchestrators: Callable[[], Collection[str]],
    checkpoint: Checkpoint = no_checkpoint,
) -> df.Blueprint:
    """The two consumers. `orchestrators()` names the orchestrators the app registers (the
    product passes `workflows.BLUEPRINTS`'; a test app adds its own)."""
    bp = df.Blueprint()

    def consumer(queue: str, name: str) -> Callable[..., Awaitable[None]]:
        async def consume_queue(
            msg: func.QueueMessage, client: df.DurableOrchestrationClient
        ) -> None:
            await handle(queue, msg, client, orchestrators(), checkpoint)

        consume_queue.__name__ = consume_queue.__qualname__ = name
        consume_queue.__doc__ = f"Acts once on each event of {queue} (docs/intake.md)."
        return consume_queue

    for source, queue in (
        ("partner_center", PARTNER_CENTER_EVENTS_QUEUE),
        ("stripe", STRIPE_EVENTS_QUEUE),
    ):
        fn: Any = consumer(queue, f"{source}_events")
        fn = bp.durable_client_input(client_name="client")(fn)
        bp.queue_trigger(arg_name="msg", queue_name=queue, connection=CONNECTION)(fn)
    return bp
