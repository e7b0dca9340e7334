"""Virtual time: months of durable timers pass in a moment of wall time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from tests.devhost.helpers import T0, run

MakeEngine = Callable[..., DurableEngine]


def test_ninety_days_in_three_day_timer_chains_complete_in_seconds(
    make_engine: MakeEngine,
) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("timers", clock=clock)
    started = time.monotonic()
    status = run(engine, "wait_days", input={"days": 90, "step_days": 3})
    wall = time.monotonic() - started
    assert status.output == {"hops": 30, "elapsed_days": 90.0}
    assert clock.now() == T0 + timedelta(days=90)
    # Not a speed benchmark: a real-time wait would take 90 days; anything near it is broken.
    assert wall < 30


def test_the_clock_stops_at_another_components_wakeup_on_the_way(
    make_engine: MakeEngine,
) -> None:
    clock = VirtualClock(T0)
    token = clock.add_wakeup(T0 + timedelta(days=10))
    engine = make_engine("timers", clock=clock)
    instance_id = engine.start_new("wait_days", input={"days": 30, "step_days": 3})
    deadline = time.monotonic() + 10
    while clock.now() < T0 + timedelta(days=10) and time.monotonic() < deadline:
        time.sleep(0.01)
    # The engine may not pass a wake-up its owner has not handled yet.
    time.sleep(0.05)
    assert clock.now() == T0 + timedelta(days=10)
    clock.remove_wakeup(token)
    assert engine.wait_for_completion(instance_id, 10).output == {"hops": 10, "elapsed_days": 30.0}


def test_a_timer_longer_than_six_days_waits_in_three_day_hops_as_in_azure_storage(
    make_engine: MakeEngine,
) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("timers", clock=clock)
    status = run(engine, "long_wait")
    assert status.output == (T0 + timedelta(days=8)).isoformat()
    fire_times = [
        e["FireAt"]
        for e in engine.history(status.instance_id)
        if e["EventType"] == EventType.TimerCreated
    ]
    # 3-day hops while more than 6 days remain, then the final timer (SDK LongTimerTask).
    assert fire_times == ["2026-03-04T09:00:00.000000Z", "2026-03-09T09:00:00.000000Z"]
