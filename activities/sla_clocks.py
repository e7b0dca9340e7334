"""The SLA clock's activities: open a clock, apply a signal, act on a wake, and the one an
owning workflow uses to signal its promise's clock.

Each reads the clock's record in the book first and applies a pure transition from
shared/policy/sla.py to it (ETag-checked, so a concurrent signal is re-read, never lost). A
wake that no longer applies (the clock was met, paused or acknowledged meanwhile) does
nothing: the record, not the timer, is the truth. Alerts go to the ops queue keyed by clock and
event, so a retried step's duplicate is recognisable.
"""

from __future__ import annotations

import json
from datetime import datetime

import azure.durable_functions as df
from azure.storage.queue import QueueClient

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from activities.notifications import notifier
from shared.book import Book
from shared.config import Settings
from shared.models import DomainModel, KpiEvent
from shared.models.party import Customer
from shared.models.sla import ClockView, SlaClock, SlaKind, SlaSignal, WakeView
from shared.models.sla import sla_instance_id as clock_id
from shared.notifications.kinds import SlaAtRisk, SlaBreached, SlaEscalated
from shared.policy.sla import (
    DEFAULT_RULES,
    BusinessHours,
    Wake,
    acknowledge_breach,
    apply_wake,
    cancel_clock,
    complete_clock,
    next_wake,
    open_clock,
    parse_chain,
    parse_targets,
    pause_clock,
    resume_clock,
)
from shared.storage import OPS_QUEUE, SLA_SIGNALS_QUEUE, trigger_queue

bp = df.Blueprint()


def _book(settings: Settings) -> Book:
    """One book per worker and Settings: its connection pool serves every clock's steps."""
    return per_settings("book", settings, Book)


class OpenClock(WriteInput):
    """The start signal a clock's orchestration was started with."""

    signal: SlaSignal


class ApplySignal(WriteInput):
    signal: SlaSignal


class WakeClock(WriteInput):
    kind: SlaKind
    subject_id: str
    wake: WakeView


class SignalClock(WriteInput):
    """What an owning workflow tells its promise's clock."""

    signal: SlaSignal


class Queued(DomainModel):
    queue: str
    clock_id: str


@activity(bp)
def open_sla_clock(request: OpenClock, ctx: ActivityContext) -> ClockView:
    """The promise's clock in the book: opened now, or the one opened before (a second start
    is the same clock)."""
    signal = request.signal
    book = _book(ctx.settings)
    customer = book.customers.get(_customer_of(signal)).record
    clock = open_clock(
        signal.kind,
        customer,
        signal.subject_id,
        signal.at,
        owner=signal.owner or "ops",
        deadline=signal.deadline,
        configured=parse_targets(ctx.settings.sla_targets),
    )
    stored = book.sla_clocks.start(clock).record
    return _view(stored, _hours(customer), ctx)


@activity(bp)
def apply_sla_signal(request: ApplySignal, ctx: ActivityContext) -> ClockView:
    """Met, pause, resume, cancel or acknowledge, applied to the record; a clock that closes
    records its `sla_outcome` KPI event (once)."""
    signal = request.signal
    book = _book(ctx.settings)
    current = book.sla_clocks.get(signal.kind, signal.subject_id).record
    customer = book.customers.get(current.customer_id).record
    hours = _hours(customer)

    def change(clock: SlaClock) -> SlaClock:
        if signal.action == "met":
            return complete_clock(clock, signal.at)
        if signal.action == "pause":
            return pause_clock(clock, signal.at, hours)
        if signal.action == "resume":
            return resume_clock(clock, signal.at, hours)
        if signal.action == "cancel":
            return cancel_clock(clock, signal.at, signal.by or "")
        if signal.action == "acknowledge":
            return acknowledge_breach(clock, signal.at, signal.by or "ops")
        return clock  # a second start: the same clock

    stored = book.sla_clocks.update(signal.kind, signal.subject_id, change).record
    if not stored.open:
        _record_outcome(book, stored)
    return _view(stored, hours, ctx)


@activity(bp)
def wake_sla_clock(request: WakeClock, ctx: ActivityContext) -> ClockView:
    """The clock's timer fired: mark it at risk, breached or escalated, and alert, unless the
    record says it no longer waits for this wake."""
    book = _book(ctx.settings)
    current = book.sla_clocks.get(request.kind, request.subject_id).record
    customer = book.customers.get(current.customer_id).record
    hours = _hours(customer)
    wake = Wake(request.wake.at, request.wake.reason, request.wake.role)
    if apply_wake(current, wake, request.wake.at) == current:
        return _view(current, hours, ctx)
    _alert(ctx, request.step_key, current, wake)
    _notify(ctx, request.step_key, current, customer, wake)
    stored = book.sla_clocks.update(
        current.kind, current.subject_id, lambda clock: apply_wake(clock, wake, wake.at)
    ).record
    return _view(stored, hours, ctx)


def _queue(settings: Settings, name: str) -> QueueClient:
    """The queue's client, made (and the queue created) once per process and settings, not
    a new connection pool and a create request for every message."""
    return per_settings(f"queue:{name}", settings, lambda s: trigger_queue(s, name))


@activity(bp)
def signal_sla_clock(request: SignalClock, ctx: ActivityContext) -> Queued:
    """Put a signal for a promise's clock on the SLA signal queue (triggers/sla.py starts or
    signals the clock). A repeat is harmless: every transition is idempotent."""
    _queue(ctx.settings, SLA_SIGNALS_QUEUE).send_message(request.signal.model_dump_json())
    return Queued(
        queue=SLA_SIGNALS_QUEUE, clock_id=clock_id(request.signal.kind, request.signal.subject_id)
    )


def _customer_of(signal: SlaSignal) -> str:
    assert signal.customer_id is not None  # a start names it (SlaSignal's validator)
    return signal.customer_id


def _hours(customer: Customer) -> BusinessHours:
    return BusinessHours.of(customer.calendar, DEFAULT_RULES.opens, DEFAULT_RULES.closes)


def _view(clock: SlaClock, hours: BusinessHours, ctx: ActivityContext) -> ClockView:
    wake = next_wake(clock, hours, parse_chain(ctx.settings.sla_escalation_chain))
    return ClockView(
        kind=clock.kind,
        subject_id=clock.subject_id,
        phase=clock.phase,
        at_risk_at=clock.at_risk_at,
        deadline=clock.deadline,
        next_wake=None
        if wake is None
        else WakeView(at=wake.at, reason=wake.reason, role=wake.role),
    )


def _record_outcome(book: Book, clock: SlaClock) -> None:
    at: datetime = clock.completed_at or clock.history[-1].at
    outcome = (
        "cancelled"
        if clock.phase == "cancelled"
        else (
            "met"
            if clock.completed_at is not None and clock.completed_at <= clock.deadline
            else "breached"
        )
    )
    book.kpi_events.record(
        KpiEvent(
            name="sla_outcome",
            occurred_at=at,
            customer_id=clock.customer_id,
            subject_id=f"{clock.kind}:{clock.subject_id}",
            outcome=outcome,
            duration_seconds=max(0, round((at - clock.started_at).total_seconds())),
            dimensions={"kind": clock.kind, "tier": clock.tier},
        )
    )


def _notify(
    ctx: ActivityContext, key: str, clock: SlaClock, customer: Customer, wake: Wake
) -> None:
    """The matching notice to the partner's ops recipients (settings `notify_ops_to`),
    exactly once per step key (shared/notifications). Without ops recipients configured,
    the ops queue's alert is the only signal."""
    if not ctx.settings.notify_ops_to:
        return
    common = {
        "customer_name": customer.company_name,
        "sla": clock.kind,
        "subject_id": clock.subject_id,
        "tier": clock.tier,
        "started_at": clock.started_at,
        "deadline": clock.deadline,
    }
    notice: SlaAtRisk | SlaBreached | SlaEscalated
    if wake.reason == "at_risk":
        notice = SlaAtRisk.model_validate({**common, "at_risk_at": wake.at})
    elif wake.reason == "breach":
        notice = SlaBreached.model_validate({**common, "breached_at": wake.at})
    else:
        level = len(clock.escalated_to) + 1
        notice = SlaEscalated.model_validate({**common, "escalated_at": wake.at, "level": level})
    notifier(ctx.settings).send(key, notice, customer_id=clock.customer_id)


def _alert(ctx: ActivityContext, key: str, clock: SlaClock, wake: Wake) -> None:
    """One message on the ops queue: which clock, what happened, who is to act."""
    _queue(ctx.settings, OPS_QUEUE).send_message(
        json.dumps(
            {
                "id": key,
                "type": f"sla_{wake.reason}",
                "clock_id": clock_id(clock.kind, clock.subject_id),
                "customer_id": clock.customer_id,
                "kind": clock.kind,
                "subject_id": clock.subject_id,
                "tier": clock.tier,
                "deadline": clock.deadline.isoformat(),
                "at": wake.at.isoformat(),
                "to": wake.role or clock.owner,
            }
        )
    )
