"""SLA clocks from the outside: the signal queue that starts and signals them, and the routes
ops and a customer's account manager read them through (docs/api.md).

- queue `cspflow-sla-signals` (`sla_signals`): a promise's owner (an activity,
  `activities.sla_clocks.signal_sla_clock`) puts a signal there; a start starts the clock's
  orchestration under its derived id unless it already runs (a second start is the same
  clock), any other signal is raised to it as the `sla` event. A signal for a clock that has
  ended is dropped; one for a clock not started yet is retried (its start may be behind it in
  the queue) and, if it never starts, ends in the poison queue for ops.
- `POST /api/sla/clocks/{clock_id}/acknowledge`: someone takes a breach on; the escalation
  stops, the clock does not (docs/rules.md#sla-escalation).
- `GET /api/sla/clocks/{clock_id}`: one clock with its history.
- `GET /api/sla/clocks?state=at_risk|breached&within=4h`: every running clock at risk or
  breached within that time, most urgent (least business time left) first.
- `GET /api/customers/{customer_id}/sla`: what a partner shows its customer: open and closed
  clocks with their history, compliance per kind over a period, breaches with reasons.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from shared.book import Book
from shared.clock import app_clock
from shared.config import get_settings
from shared.models import DomainModel, Rate, UtcDateTime
from shared.models.sla import (
    SlaClock,
    SlaHistoryEntry,
    SlaKind,
    SlaPhase,
    SlaSignal,
    sla_instance_id,
)
from shared.policy.sla import DEFAULT_RULES, BusinessHours, business_time_between, sla_state
from shared.storage import SLA_SIGNALS_QUEUE
from triggers.api import API, Call, Conflict, NotFound, Reply
from triggers.api.paging import Page, Paging
from triggers.reads import book
from workflows.sla_clock import SIGNAL_EVENT, sla_clock

bp = df.Blueprint()
log = logging.getLogger("cspflow.sla")

Status = df.OrchestrationRuntimeStatus
RUNNING = (Status.Running, Status.Pending, Status.Suspended)
RESTARTABLE = (Status.Failed, Status.Terminated, Status.Canceled)
KINDS: tuple[SlaKind, ...] = (
    "onboarding",
    "licence_change",
    "renewal_decision",
    "payment_first_contact",
    "support_first_response",
    "support_resolution",
)


class ClockNotStarted(Exception):
    """A signal for a clock whose start has not been processed yet: the queue retries it."""


@bp.queue_trigger(arg_name="msg", queue_name=SLA_SIGNALS_QUEUE, connection="AzureWebJobsStorage")
@bp.durable_client_input(client_name="client")
async def sla_signals(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    """Start or signal the clock a message names."""
    signal = SlaSignal.model_validate_json(msg.get_body())
    await deliver(client, signal)


async def deliver(client: df.DurableOrchestrationClient, signal: SlaSignal) -> str:
    """What the consumer does with one signal; the clock's instance id."""
    instance_id = sla_instance_id(signal.kind, signal.subject_id)
    status = (await client.get_status(instance_id)).runtime_status
    data = signal.model_dump(mode="json")
    if signal.action == "start":
        if status is None or status in RESTARTABLE:
            try:
                await client.start_new(sla_clock.__name__, instance_id, data)
            except Exception:
                # Another consumer started it first: the same clock. Anything else is real.
                if (await client.get_status(instance_id)).runtime_status is None:
                    raise
        return instance_id
    if status is None:
        raise ClockNotStarted(f"{instance_id} is not started yet; {signal.action} is retried")
    if status in RUNNING:
        await client.raise_event(instance_id, SIGNAL_EVENT, data)
    else:
        log.info("%s has ended (%s): %s dropped", instance_id, status, signal.action)
    return instance_id


# -- HTTP ------------------------------------------------------------------------------------


class ClockOut(DomainModel):
    """A clock as the API shows it."""

    id: str
    kind: SlaKind
    subject_id: str
    customer_id: str
    tier: str
    phase: SlaPhase
    state: Literal["on_track", "at_risk", "breached", "met", "cancelled"]
    started_at: UtcDateTime
    at_risk_at: UtcDateTime
    deadline: UtcDateTime
    completed_at: UtcDateTime | None
    acknowledged_at: UtcDateTime | None
    acknowledged_by: str | None
    escalated_to: list[str]
    business_seconds_left: int | None = Field(
        description="Business time until the deadline, for a running clock; negative: overdue"
    )
    history: list[SlaHistoryEntry]


class Acknowledge(DomainModel):
    by: str = Field(min_length=1, max_length=200, description="Who takes the breach on")


class Acknowledged(DomainModel):
    id: str
    state: Literal["acknowledging"] = "acknowledging"


class ClockFilter(DomainModel):
    """`state=at_risk`: not breached yet, at risk within `within`; `state=breached`: past
    the deadline, or past it within `within`; no state: both."""

    state: Literal["at_risk", "breached"] | None = None
    within: str = Field(
        default="0h",
        pattern=r"^\d{1,4}[mhd]$",
        description="Include clocks at risk within this much time from now: 30m, 4h, 2d",
    )


class Period(DomainModel):
    since: UtcDateTime | None = None
    until: UtcDateTime | None = None


class Compliance(DomainModel):
    kind: SlaKind
    met: int
    breached: int
    rate: Rate | None = Field(description="met / (met + breached), as a decimal; null: none")


class Breach(DomainModel):
    clock_id: str
    kind: SlaKind
    subject_id: str
    deadline: UtcDateTime
    completed_at: UtcDateTime | None
    reason: str


class CustomerSla(DomainModel):
    customer_id: str
    since: UtcDateTime | None
    until: UtcDateTime
    clocks: list[ClockOut]
    compliance: list[Compliance]
    breaches: list[Breach]


@API.route(
    bp,
    "POST",
    "sla/clocks/{clock_id}/acknowledge",
    summary="Acknowledge a breached SLA clock (stops its escalation, not the clock)",
    request=Acknowledge,
    responses={202: Acknowledged},
    problems=(409,),
    durable_client=True,
    tags=("sla",),
)
async def acknowledge_clock(
    call: Call[Acknowledge], client: df.DurableOrchestrationClient
) -> Reply:
    clock, now = await asyncio.to_thread(_clock_and_now, call.route_values["clock_id"])
    if clock.breached_at is None or not clock.open:
        raise Conflict("not_breached", "only a running, breached clock can be acknowledged")
    signal = SlaSignal(
        action="acknowledge", kind=clock.kind, subject_id=clock.subject_id, at=now, by=call.body.by
    )
    await deliver(client, signal)
    clock_id = sla_instance_id(clock.kind, clock.subject_id)
    return Reply.accepted(
        Acknowledged(id=clock_id), location=call.url_for("sla", "clocks", clock_id)
    )


@API.route(
    bp,
    "GET",
    "sla/clocks/{clock_id}",
    summary="One SLA clock with its history",
    responses={200: ClockOut},
    tags=("sla",),
)
def get_clock(call: Call[None]) -> ClockOut:
    clock, now = _clock_and_now(call.route_values["clock_id"])
    return _out(clock, now, _hours_of(book(), clock.customer_id))


@API.route(
    bp,
    "GET",
    "sla/clocks",
    summary="Running SLA clocks at risk or breached, the least business time left first",
    query=ClockFilter,
    paged=Paging(default_limit=50, max_limit=200),
    responses={200: Page[ClockOut]},
    tags=("sla",),
)
def list_clocks(call: Call[None]) -> Page[ClockOut]:
    filters: ClockFilter = call.query
    settings = get_settings()
    the_book = book()
    now = app_clock(settings).now()
    page = the_book.sla_clocks.at_risk(
        now + _duration(filters.within), limit=call.page.limit, next=call.page.after
    )  # running clocks only: a paused clock's time does not count
    horizon = now + _duration(filters.within)
    hours: dict[str, BusinessHours] = {}
    items = []
    for clock in page.items:
        wanted = (
            filters.state is None
            or (filters.state == "at_risk" and clock.deadline > now)
            or (filters.state == "breached" and clock.deadline <= horizon)
        )
        if not wanted:
            continue
        if clock.customer_id not in hours:
            hours[clock.customer_id] = _hours_of(the_book, clock.customer_id)
        items.append(_out(clock, now, hours[clock.customer_id]))
    items.sort(key=lambda c: (c.business_seconds_left or 0, c.deadline))
    return call.page.page(items, after=page.next)


@API.route(
    bp,
    "GET",
    "customers/{customer_id}/sla",
    summary="A customer's SLA report: clocks, compliance per kind, breaches",
    query=Period,
    responses={200: CustomerSla},
    tags=("sla",),
)
def customer_sla(call: Call[None]) -> CustomerSla:
    period: Period = call.query
    settings = get_settings()
    the_book = book()
    customer_id = call.route_values["customer_id"]
    if the_book.customers.find(customer_id) is None:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    now = app_clock(settings).now()
    until = period.until or now
    hours = _hours_of(the_book, customer_id)
    clocks: list[SlaClock] = []
    cursor: str | None = None
    while True:  # a customer's clocks: one partition, paged through
        page = the_book.sla_clocks.of_customer(customer_id, limit=200, next=cursor)
        clocks.extend(page.items)
        if page.next is None:
            break
        cursor = page.next
    in_period = [
        c
        for c in clocks
        if (period.since is None or c.started_at >= period.since) and c.started_at <= until
    ]
    outs = [_out(c, now, hours) for c in in_period]
    return CustomerSla(
        customer_id=customer_id,
        since=period.since,
        until=until,
        clocks=outs,
        compliance=_compliance(outs),
        breaches=[_breach(c) for c in in_period if c.breached_at or _closed_late(c)],
    )


def _clock_and_now(clock_id: str) -> tuple[SlaClock, datetime]:
    settings = get_settings()
    parsed = _parse_id(clock_id)
    stored = book().sla_clocks.find(*parsed) if parsed else None
    if stored is None:
        raise NotFound(f"no SLA clock {clock_id}", field="clock_id")
    return stored.record, app_clock(settings).now()


def _parse_id(clock_id: str) -> tuple[SlaKind, str] | None:
    for kind in sorted(KINDS, key=len, reverse=True):
        prefix = f"sla-{kind}-"
        if clock_id.startswith(prefix) and len(clock_id) > len(prefix):
            return kind, clock_id[len(prefix) :]
    return None


def _hours_of(book: Book, customer_id: str) -> BusinessHours:
    stored = book.customers.find(customer_id)
    if stored is None:  # a clock outlived its customer's record: count plain UTC hours
        return BusinessHours()
    return BusinessHours.of(stored.record.calendar, DEFAULT_RULES.opens, DEFAULT_RULES.closes)


def _out(clock: SlaClock, now: datetime, hours: BusinessHours) -> ClockOut:
    if clock.phase == "cancelled":
        state: Any = "cancelled"
    elif clock.phase == "paused":
        state = "breached" if clock.breached_at else "on_track"
    else:
        state = sla_state(clock, now)
    left = None
    if clock.phase == "running":
        ahead = business_time_between(now, clock.deadline, hours)
        behind = business_time_between(clock.deadline, now, hours)
        left = round((ahead - behind).total_seconds())
    return ClockOut(
        id=sla_instance_id(clock.kind, clock.subject_id),
        kind=clock.kind,
        subject_id=clock.subject_id,
        customer_id=clock.customer_id,
        tier=clock.tier,
        phase=clock.phase,
        state=state,
        started_at=clock.started_at,
        at_risk_at=clock.at_risk_at,
        deadline=clock.deadline,
        completed_at=clock.completed_at,
        acknowledged_at=clock.acknowledged_at,
        acknowledged_by=clock.acknowledged_by,
        escalated_to=clock.escalated_to,
        business_seconds_left=left,
        history=clock.history,
    )


def _compliance(clocks: list[ClockOut]) -> list[Compliance]:
    rows = []
    for kind in KINDS:
        closed = [c for c in clocks if c.kind == kind and c.phase == "closed"]
        if not closed:
            continue
        met = sum(1 for c in closed if c.state == "met")
        rows.append(
            Compliance(
                kind=kind,
                met=met,
                breached=len(closed) - met,
                rate=(Decimal(met) / Decimal(len(closed))).quantize(Decimal("0.0001")),
            )
        )
    return rows


def _closed_late(clock: SlaClock) -> bool:
    return clock.completed_at is not None and clock.completed_at > clock.deadline


def _breach(clock: SlaClock) -> Breach:
    notes = [
        h.detail for h in clock.history if h.detail and h.event in ("acknowledged", "cancelled")
    ]
    reason = "; ".join(notes) or (
        "completed after the deadline" if _closed_late(clock) else "past the deadline, still open"
    )
    return Breach(
        clock_id=sla_instance_id(clock.kind, clock.subject_id),
        kind=clock.kind,
        subject_id=clock.subject_id,
        deadline=clock.deadline,
        completed_at=clock.completed_at,
        reason=reason,
    )


_DURATION = re.compile(r"^(\d{1,4})([mhd])$")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30m, 4h or 2d")
    amount, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount)}.get(
        unit, timedelta(days=amount)
    )
