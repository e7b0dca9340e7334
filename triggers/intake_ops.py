"""Operator endpoints of event intake (docs/intake.md).

- `POST /api/ops/webhooks/partner-center`: register cspflow's callback with Partner Center
  (for every event it offers) and send a test event; answers 202 with the Durable status
  links, whose output is the registration and the test delivery's result. The callback is
  this API's own `/api/webhooks/partner-center` (as the request reached it), or
  `callback_url`. Posts within one UTC minute share one instance
  (`webhook-registration-<YYYYMMDDTHHMM>`).
- `POST /api/ops/poison/{queue}/redrive`: put every message of an intake queue's poison
  queue (`partner-center` or `stripe`) back on the queue, once each, and list them. Do it
  once the cause is fixed: each event is then processed once (an event processed meanwhile,
  by a poll or a later delivery, is acknowledged as already processed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from datetime import datetime

import azure.durable_functions as df
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from pydantic import AnyHttpUrl, Field

from shared.clock import app_clock
from shared.config import get_settings
from shared.errors import first_line
from shared.intake import QueueUnavailable
from shared.models import DomainModel
from shared.storage import EVENT_QUEUES, poison_queue, queue_service
from triggers.api import API, Call, DurableCheckStatus, NotFound, Reply, check_status_reply
from workflows.webhook_registration import ORCHESTRATOR as REGISTRATION

bp = df.Blueprint()

RESTARTABLE = (
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Canceled,
)
RECEIVE_BATCH = 32  # Azure Queues' most per receive
MAX_REDRIVE = 1000  # per request; a larger poison queue takes more requests
HIDE_S = 300  # a message received stays hidden this long: each is re-driven once per request


class RegistrationQuery(DomainModel):
    callback_url: AnyHttpUrl | None = Field(
        default=None,
        description="Where Partner Center should deliver (default: this API's "
        "/api/webhooks/partner-center as the request reached it)",
    )


def registration_instance_id(now: datetime) -> str:
    return f"webhook-registration-{now.strftime('%Y%m%dT%H%M')}"


@API.route(
    bp,
    "POST",
    "ops/webhooks/partner-center",
    summary="Register cspflow's Partner Center webhook and send a test event",
    query=RegistrationQuery,
    responses={202: DurableCheckStatus},
    durable_client=True,
)
async def start_webhook_registration(
    call: Call[None], client: df.DurableOrchestrationClient
) -> Reply:
    """Registers (or updates) the callback for every event Partner Center offers, then
    sends a test event. `Location` is the status; its `output` shows the registration and
    the test delivery's result (`test_event.status` `completed` when cspflow answered 2xx)."""
    query: RegistrationQuery = call.query
    callback = (
        str(query.callback_url)
        if query.callback_url
        else call.url_for("webhooks", "partner-center")
    )
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    instance_id = registration_instance_id(now)
    status = await client.get_status(instance_id)
    if status.runtime_status is None or status.runtime_status in RESTARTABLE:
        try:
            await client.start_new(REGISTRATION, instance_id, {"callback_url": callback})
        except Exception:
            status = await client.get_status(instance_id)
            if status.runtime_status is None or status.runtime_status in RESTARTABLE:
                raise
    return check_status_reply(client, call, instance_id)


class Redriven(DomainModel):
    message_id: str = Field(description="The poison message's id")
    requeued_as: str = Field(description="The id of the message put back on the queue")
    key: str | None = Field(default=None, description="The event's business key")
    type: str | None = None


class RedriveReport(DomainModel):
    queue: str
    poison_queue: str
    redriven: list[Redriven]


@API.route(
    bp,
    "POST",
    "ops/poison/{queue}/redrive",
    summary="Put an intake queue's poison messages back on the queue, once each",
    responses={200: RedriveReport},
    problems=(503,),
)
def redrive_poison(call: Call[None]) -> RedriveReport:
    """`queue` is `partner-center` or `stripe`. Each poison message is sent to the queue as it
    is and then deleted from the poison queue; the answer lists them. (A crash between the two
    leaves a copy to be re-driven again: the consumer acts on an event once either way.)"""
    name = call.route_values.get("queue", "")
    queue = EVENT_QUEUES.get(name)
    if queue is None:
        raise NotFound(
            f"no intake queue {name[:50]!r}; one of {', '.join(EVENT_QUEUES)}", field="queue"
        )
    # Moved as they are, still encoded (as the host moved them): a message that is no event
    # at all goes back too, and fails again, rather than blocking the others.
    service = queue_service(get_settings())
    poison = service.get_queue_client(poison_queue(queue))
    target = service.get_queue_client(queue)
    redriven: list[Redriven] = []
    try:
        while len(redriven) < MAX_REDRIVE:
            want = min(RECEIVE_BATCH, MAX_REDRIVE - len(redriven))
            try:
                batch = list(poison.receive_messages(max_messages=want, visibility_timeout=HIDE_S))
            except ResourceNotFoundError:  # never any poison
                batch = []
            if not batch:
                break
            for message in batch:
                content = str(message.content)
                try:
                    sent = target.send_message(content)
                except ResourceNotFoundError:
                    with contextlib.suppress(ResourceExistsError):
                        target.create_queue()
                    sent = target.send_message(content)
                with contextlib.suppress(ResourceNotFoundError):
                    poison.delete_message(message)
                key, kind = _about(content)
                redriven.append(
                    Redriven(message_id=message.id, requeued_as=sent.id, key=key, type=kind)
                )
    except AzureError as exc:
        raise QueueUnavailable(f"queue {poison_queue(queue)}: {first_line(exc)[:200]}") from exc
    return RedriveReport(queue=queue, poison_queue=poison_queue(queue), redriven=redriven)


def _about(content: str) -> tuple[str | None, str | None]:
    """The business key and type of a message's event (base64 JSON), if it is one."""
    try:
        doc = json.loads(base64.b64decode(content, validate=True))
    except (ValueError, binascii.Error):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    key, kind = doc.get("key"), doc.get("type")
    return (key if isinstance(key, str) else None), (kind if isinstance(kind, str) else None)
