"""devhost.shim against hand-built histories from the SDK's own test scenarios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devhost.history import (
    Event,
    EventType,
    event,
    fmt_time,
    orchestrator_completed,
    orchestrator_started,
    parse_time,
)
from devhost.shim import NonDeterminismError, Shim

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RETRY = {"firstRetryIntervalInMilliseconds": 5000, "maxNumberOfAttempts": 3}


def _retry(name: str) -> dict[str, object]:
    return {
        "actionType": 12,
        "compoundActions": [
            {"actionType": 1, "functionName": name, "input": "null", "retryOptions": RETRY}
        ],
    }


def _start() -> list[Event]:
    return [
        orchestrator_started(T0),
        event(EventType.ExecutionStarted, T0, Name="o", Version="", Input=None),
    ]


def _ids(events: list[Event]) -> list[tuple[str, int]]:
    return [(EventType(e["EventType"]).name, e["EventId"]) for e in events]


def test_out_of_order_retry_failures_number_timers_then_reschedules_in_processing_order() -> None:
    # The Python SDK's own tests (github.com/Azure/azure-functions-durable-python),
    # tests/orchestrator/test_sequential_orchestrator_with_retry.py:
    # failures of #1 then #0 give timers #2, #3; fired timers give re-schedules #4, #5.
    actions = [{"actionType": 12, "compoundActions": [_retry("A"), _retry("B")]}]
    history = _start()
    first = Shim(history, execution_id="e", now=T0).replay(actions)
    assert _ids(first.new_decisions) == [("TaskScheduled", 0), ("TaskScheduled", 1)]
    history += [*first.new_decisions, orchestrator_completed(T0)]
    t1 = T0 + timedelta(seconds=1)
    history += [
        orchestrator_started(t1),
        event(EventType.TaskFailed, t1, TaskScheduledId=1, Reason="b", Details=""),
        event(EventType.TaskFailed, t1, TaskScheduledId=0, Reason="a", Details=""),
    ]
    second = Shim(history, execution_id="e", now=t1).replay(actions)
    assert _ids(second.new_decisions) == [("TimerCreated", 2), ("TimerCreated", 3)]
    assert second.new_decisions[0]["FireAt"] == fmt_time(t1 + timedelta(seconds=5))
    history += [*second.new_decisions, orchestrator_completed(t1)]
    t2 = t1 + timedelta(seconds=5)
    history += [
        orchestrator_started(t2),
        event(EventType.TimerFired, t2, TimerId=2),
        event(EventType.TimerFired, t2, TimerId=3),
    ]
    third = Shim(history, execution_id="e", now=t2).replay(actions)
    assert [(e["Name"], e["EventId"]) for e in third.new_decisions] == [("B", 4), ("A", 5)]


def test_a_changed_activity_name_is_reported_as_non_determinism() -> None:
    history = _start()
    history.append(event(EventType.TaskScheduled, T0, 0, Name="A", Version="", Input="null"))
    with pytest.raises(NonDeterminismError, match="activity task named 'A' with sequence ID 0"):
        Shim(history, execution_id="e", now=T0).replay(
            [{"actionType": 0, "functionName": "B", "input": "null"}]
        )


def test_a_recorded_decision_the_replay_never_makes_is_non_determinism() -> None:
    history = _start()
    history.append(event(EventType.TimerCreated, T0, 0, FireAt=fmt_time(T0)))
    with pytest.raises(NonDeterminismError, match="durable timer with sequence ID 0"):
        Shim(history, execution_id="e", now=T0).replay([])


def test_fire_and_forget_signals_do_not_block_the_next_action() -> None:
    actions = [
        {"actionType": 9, "instanceId": "@counter@k", "operation": "add", "input": "1"},
        {"actionType": 0, "functionName": "A", "input": "null"},
    ]
    result = Shim(_start(), execution_id="e", now=T0, new_guid=lambda: "g").replay(actions)
    assert _ids(result.new_decisions) == [("EventSent", 0), ("TaskScheduled", 1)]
    assert result.new_decisions[0]["InstanceId"] == "@counter@k"


def test_continue_as_new_is_reported_with_its_input() -> None:
    result = Shim(_start(), execution_id="e", now=T0).replay([{"actionType": 4, "input": "5"}])
    assert result.continue_as_new and result.continue_as_new_input == "5"


def test_retry_delays_grow_by_the_backoff_coefficient_up_to_the_max_interval() -> None:
    # DTFx RetryInterceptor: first * coefficient^attempt, capped by maxRetryInterval.
    options = {
        "firstRetryIntervalInMilliseconds": 5000,
        "maxNumberOfAttempts": 4,
        "backoffCoefficient": 2,
        "maxRetryIntervalInMilliseconds": 15000,
    }
    actions = [
        {
            "actionType": 12,
            "compoundActions": [
                {"actionType": 1, "functionName": "A", "input": "null", "retryOptions": options}
            ],
        }
    ]
    history, now, delays = _start(), T0, []
    for _ in range(7):  # attempt, timer, attempt, timer, attempt, timer, last attempt
        (decision,) = Shim(history, execution_id="e", now=now).replay(actions).new_decisions
        history += [decision, orchestrator_completed(now)]
        if decision["EventType"] == EventType.TimerCreated:
            fire_at = parse_time(decision["FireAt"])
            delays.append((fire_at - now).total_seconds())
            now = fire_at
            outcome = event(EventType.TimerFired, now, TimerId=decision["EventId"])
        else:
            outcome = event(
                EventType.TaskFailed,
                now,
                TaskScheduledId=decision["EventId"],
                Reason="x",
                Details="",
            )
        history += [orchestrator_started(now), outcome]
    assert delays == [5, 10, 15]


def test_a_resumed_shim_makes_the_decisions_a_full_replay_makes() -> None:
    # The retry scenario above, episode by episode: once through a full replay per episode,
    # once through one shim resumed with each episode's new events only.
    actions = [{"actionType": 12, "compoundActions": [_retry("A"), _retry("B")]}]
    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=6)
    episodes = [
        _start(),
        [
            orchestrator_started(t1),
            event(EventType.TaskFailed, t1, TaskScheduledId=1, Reason="b", Details=""),
            event(EventType.TaskFailed, t1, TaskScheduledId=0, Reason="a", Details=""),
        ],
        [
            orchestrator_started(t2),
            event(EventType.TimerFired, t2, TimerId=2),
            event(EventType.TimerFired, t2, TimerId=3),
        ],
    ]
    history: list[Event] = []
    resumed_shim: Shim | None = None
    for new in episodes:
        now = parse_time(new[0]["Timestamp"])
        full = Shim(history + new, execution_id="e", now=now).replay(actions)
        if resumed_shim is None:
            resumed_shim = Shim(history + new, execution_id="e", now=now)
            resumed = resumed_shim.replay(actions)
        else:
            outcome = resumed_shim.resume(new, actions, now)
            assert outcome is not None
            resumed = outcome
        assert resumed.new_decisions == full.new_decisions
        history += [*new, *full.new_decisions, orchestrator_completed(now)]
    assert [(e["Name"], e["EventId"]) for e in full.new_decisions] == [("B", 4), ("A", 5)]


def test_a_shim_is_not_resumed_when_the_actions_changed_since() -> None:
    # A timer cancelled after it was created flips its action's isCanceled: replay in full.
    timer = {"actionType": 5, "fireAt": fmt_time(T0 + timedelta(days=1)), "isCanceled": False}
    event_wait = {"actionType": 6, "externalEventName": "go"}
    any_of = {"actionType": 11, "compoundActions": [timer, event_wait]}
    shim = Shim(_start(), execution_id="e", now=T0)
    first = shim.replay([any_of])
    assert _ids(first.new_decisions) == [("TimerCreated", 0)]
    t1 = T0 + timedelta(seconds=1)
    cancelled = {**any_of, "compoundActions": [{**timer, "isCanceled": True}, event_wait]}
    new = [orchestrator_started(t1), event(EventType.EventRaised, t1, Name="go", Input="1")]
    assert shim.resume(new, [cancelled], t1) is None
