"""External events raised before the orchestrator ever ran are delivered with its first
episode and buffered by the SDK until the wait; an event nobody waits for is left unconsumed
and does not disturb the instance's completion."""

from __future__ import annotations

from collections.abc import Callable

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, assert_all_replay

MakeEngine = Callable[..., DurableEngine]


def test_events_raised_before_the_first_episode_are_buffered_until_the_wait(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0), start=False)
    instance_id = engine.start_new("wait_for_go", instance_id="early")
    engine.raise_event(instance_id, "Unrelated", "ignored")
    engine.raise_event(instance_id, "Go", {"x": 1})
    engine.raise_event(instance_id, "Go", {"x": 2})  # a second one stays unconsumed
    engine.start()
    status = engine.wait_for_completion(instance_id, 10)
    assert status.runtime_status is RuntimeStatus.Completed
    assert status.output == {"x": 1}
    raised = [
        (e["Name"], e["Input"])
        for e in engine.history(instance_id)
        if e["EventType"] == EventType.EventRaised
    ]
    assert raised == [
        ("Unrelated", '"ignored"'),
        ("Go", '{"x": 1}'),
        ("Go", '{"x": 2}'),
    ]
    assert_all_replay(engine)
