"""Two retried activities in a fan-out failing out of order get their timers and
re-schedules numbered in processing order (as the Python SDK's own tests build that history:
tests/orchestrator/test_sequential_orchestrator_with_retry.py,
add_two_retriable_events_completing_out_of_order, in
github.com/Azure/azure-functions-durable-python), end to end through the engine, and each
re-schedule retries the activity that failed."""

from __future__ import annotations

from collections.abc import Callable

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from tests.devhost.helpers import T0, run

MakeEngine = Callable[..., DurableEngine]


def test_out_of_order_failures_number_timers_and_reschedules_in_processing_order(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    module = engine.app.module
    module.FAST_FAILED.clear()
    module._attempts.clear()
    status = run(engine, "out_of_order_retries")
    assert status.output == ["slow ok", "fast ok"]
    steps: list[tuple[object, ...]] = []
    for ev in engine.history(status.instance_id):
        kind = EventType(ev["EventType"])
        if kind is EventType.TaskScheduled:
            steps.append((kind.name, ev["EventId"], ev["Input"]))
        elif kind in (EventType.TaskFailed, EventType.TaskCompleted):
            steps.append((kind.name, ev["TaskScheduledId"]))
        elif kind is EventType.TimerCreated:
            steps.append((kind.name, ev["EventId"]))
        elif kind is EventType.TimerFired:
            steps.append((kind.name, ev["TimerId"]))
    assert steps[:10] == [
        ("TaskScheduled", 0, '"slow"'),
        ("TaskScheduled", 1, '"fast"'),
        ("TaskFailed", 1),
        ("TimerCreated", 2),  # for "fast", whose failure was processed first
        ("TaskFailed", 0),
        ("TimerCreated", 3),
        # Both timers are due at the same instant, so one episode delivers both.
        ("TimerFired", 2),
        ("TimerFired", 3),
        ("TaskScheduled", 4, '"fast"'),
        ("TaskScheduled", 5, '"slow"'),
    ]
    # The second attempts run concurrently: their results arrive in either order.
    assert sorted(steps[10:]) == [("TaskCompleted", 4), ("TaskCompleted", 5)]
