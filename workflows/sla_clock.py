"""Orchestrator `sla_clock`: one durable clock per promise (docs/rules.md#sla-tier-targets).

Started by the SLA signal queue's consumer (triggers/sla.py) with the promise's start signal,
under the instance id `sla-<kind>-<subject>` (shared.models.sla.sla_instance_id), so a second
start is the same clock. It opens the clock's record in the book, then waits on a durable
timer for the next thing the clock waits for (its at-risk moment, its deadline, the next step
of the escalation chain) and, at the same time, for a signal (the `sla` event: met, pause,
resume, cancel, acknowledge). Whichever comes first is applied to the record by an activity,
which answers what the clock waits for next. It never polls: a paused clock, or a breached one
that was acknowledged, waits for a signal only. It ends when the clock closes (met or
breached at completion) or is cancelled.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from activities.sla_clocks import (
    ApplySignal,
    OpenClock,
    WakeClock,
    apply_sla_signal,
    open_sla_clock,
    wake_sla_clock,
)
from shared.models.sla import ClockView, SlaSignal
from workflows.durable import (
    event_model,
    orchestration,
    run,
    set_status,
    step_key,
    timer_toward,
)

bp = df.Blueprint()

SIGNAL_EVENT = "sla"


@orchestration(bp)
def sla_clock(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    start = SlaSignal.model_validate(context.get_input())
    view = (
        yield from run(
            context, open_sla_clock, OpenClock(step_key=step_key(context, "open"), signal=start)
        )
    ).unwrap()
    # One wait for the signal at a time, kept across timer hops (a new wait per loop would
    # leave the old one to swallow the next event).
    signal = context.wait_for_external_event(SIGNAL_EVENT)
    step = 0
    while view.open:
        step += 1
        set_status(context, view)
        wake = view.next_wake
        if wake is None:
            raw = yield signal
            signal = context.wait_for_external_event(SIGNAL_EVENT)
            view = yield from _apply(context, raw, step)
            continue
        timer = timer_toward(context, wake.at)
        winner = yield context.task_any([timer, signal])
        if winner is signal:
            timer.cancel()
            raw = signal.result
            signal = context.wait_for_external_event(SIGNAL_EVENT)
            view = yield from _apply(context, raw, step)
        elif context.current_utc_datetime >= wake.at:
            request = WakeClock(
                step_key=step_key(context, f"wake-{step}"),
                kind=view.kind,
                subject_id=view.subject_id,
                wake=wake,
            )
            view = (yield from run(context, wake_sla_clock, request)).unwrap()
        # else: one hop of a wait longer than a timer may be; the loop re-arms it.
    set_status(context, view)
    return view.model_dump(mode="json")


def _apply(
    context: df.DurableOrchestrationContext, raw: Any, step: int
) -> Generator[Any, Any, ClockView]:
    signal = event_model(SlaSignal, raw)
    request = ApplySignal(step_key=step_key(context, f"signal-{step}"), signal=signal)
    return (yield from run(context, apply_sla_signal, request)).unwrap()
