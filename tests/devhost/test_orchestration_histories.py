"""Whole histories, event by event, not only the outputs they lead to: what the Durable
extension (with DTFx, the Durable Task Framework) records for five worked examples, each
checked by replaying it through azure-functions-durable 1.7.0:

(a) one activity; (d) an activity that fails; (e) an activity retried with backoff, capped by
maxRetryInterval and ending with DTFx's extra timer (RetryInterceptor,
github.com/Azure/durabletask); (g) continue_as_new, which restarts the history and its event
ids; (h) an entity signal, then a call to the same entity.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import Event
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, run

MakeEngine = Callable[..., DurableEngine]

OS, OC = 12, 13  # OrchestratorStarted, OrchestratorCompleted
AT = "2026-03-01T09:00:00.000000Z"  # T0, the virtual clock's start


def _at(seconds: int) -> str:
    return f"2026-03-01T09:00:{seconds:02d}.000000Z"


def _plain(history: list[Event]) -> list[dict[str, Any]]:
    """Events without IsPlayed (replay bookkeeping) and with failure tracebacks cut to
    their first line, which names the file and so differs per checkout."""
    out = []
    for ev in history:
        ev = {k: v for k, v in ev.items() if k != "IsPlayed"}
        if "Details" in ev:
            ev["Details"] = ev["Details"].splitlines()[0]
        if "FailureDetails" in ev:
            details = ev["FailureDetails"]
            ev["FailureDetails"] = {
                **details,
                "ErrorMessage": details["ErrorMessage"].split(" \n ")[0],
            }
        out.append(ev)
    return out


def _marker(kind: int, at: str = AT) -> dict[str, Any]:
    return {"EventType": kind, "EventId": -1, "Timestamp": at}


def _started(history: list[Event], name: str, input: str | None) -> dict[str, Any]:
    return {
        "EventType": 0,
        "EventId": -1,
        "Timestamp": AT,
        "OrchestrationInstance": history[1]["OrchestrationInstance"],
        "ParentInstance": None,
        "Name": name,
        "Version": "",
        "Input": input,
    }


def _scheduled(event_id: int, name: str, input: str, at: str = AT) -> dict[str, Any]:
    return {
        "EventType": 4,
        "EventId": event_id,
        "Timestamp": at,
        "Name": name,
        "Version": "",
        "Input": input,
    }


def _boom(task_id: int, at: str = AT) -> dict[str, Any]:
    return {
        "EventType": 6,
        "EventId": -1,
        "Timestamp": at,
        "TaskScheduledId": task_id,
        "Reason": "Activity function 'Boom' failed: boom",
        "Details": "Traceback (most recent call last):",
        "FailureDetails": {
            "ErrorType": "Exception",
            "ErrorMessage": "Activity function 'Boom' failed: boom",
        },
    }


def _timer(event_id: int, at: str, fire_at: str) -> list[dict[str, Any]]:
    created = {"EventType": 10, "EventId": event_id, "Timestamp": at, "FireAt": fire_at}
    fired = {"EventType": 11, "EventId": -1, "Timestamp": fire_at, "TimerId": event_id}
    return [created, _marker(OC, at), _marker(OS, fire_at), {**fired, "FireAt": fire_at}]


def test_one_activity_writes_the_history_of_worked_example_a(make_engine: MakeEngine) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    status = run(engine, "one_activity", input='"Tokyo"')
    history = engine.history(status.instance_id)
    assert _plain(history) == [
        _marker(OS),
        _started(history, "one_activity", '"Tokyo"'),
        _scheduled(0, "Hello", '"Tokyo"'),
        _marker(OC),
        _marker(OS),
        {
            "EventType": 5,
            "EventId": -1,
            "Timestamp": AT,
            "TaskScheduledId": 0,
            "Result": '"Hello Tokyo"',
        },
        {
            "EventType": 1,
            "EventId": -1,
            "Timestamp": AT,
            "OrchestrationStatus": "Completed",
            "Result": '"Hello Tokyo"',
        },
        _marker(OC),
    ]
    assert status.output == "Hello Tokyo"


def test_a_failed_activity_writes_the_history_of_worked_example_d(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    status = run(engine, "one_failing_activity", input='"Tokyo"')
    history = engine.history(status.instance_id)
    message = (
        "Orchestrator function 'one_failing_activity' failed: Activity function 'Boom' failed: boom"
    )
    assert _plain(history) == [
        _marker(OS),
        _started(history, "one_failing_activity", '"Tokyo"'),
        _scheduled(0, "Boom", '"Tokyo"'),
        _marker(OC),
        _marker(OS),
        _boom(0),
        {
            "EventType": 1,
            "EventId": -1,
            "Timestamp": AT,
            "OrchestrationStatus": "Failed",
            "Result": None,
            "FailureDetails": {"ErrorMessage": message},
        },
        _marker(OC),
    ]
    assert status.runtime_status is RuntimeStatus.Failed
    # The SDK's error is Reason + " \n " + Details, so the status carries the traceback too.
    assert status.output.startswith(message + " \n Traceback (most recent call last):")


def test_retry_backoff_is_capped_by_the_max_interval_and_ends_with_the_extra_timer(
    make_engine: MakeEngine,
) -> None:
    # Worked example e with RetryInterceptor's backoff: delays 5 s * 2^n capped at 15 s
    # (5, 10, 15, 15), then the extra timer at the moment of the last failure.
    engine = make_engine("review", clock=VirtualClock(T0))
    spec = {
        "first_ms": 5000,
        "attempts": 5,
        "extra": {"backoffCoefficient": 2, "maxRetryIntervalInMilliseconds": 15000},
    }
    status = run(engine, "backoff_retry", input=json.dumps(spec))
    history = engine.history(status.instance_id)
    expected: list[dict[str, Any]] = [
        _marker(OS),
        _started(history, "backoff_retry", json.dumps(spec)),
    ]
    at = 0
    for attempt, delay in enumerate([5, 10, 15, 15, 0]):
        expected += [_scheduled(2 * attempt, "Boom", '"x"', _at(at)), _marker(OC, _at(at))]
        expected += [_marker(OS, _at(at)), _boom(2 * attempt, _at(at))]
        expected += _timer(2 * attempt + 1, _at(at), _at(at + delay))
        at += delay
    failure = "Orchestrator function 'backoff_retry' failed: Activity function 'Boom' failed: boom"
    expected += [
        {
            "EventType": 1,
            "EventId": -1,
            "Timestamp": _at(45),
            "OrchestrationStatus": "Failed",
            "Result": None,
            "FailureDetails": {"ErrorMessage": failure},
        },
        _marker(OC, _at(45)),
    ]
    assert _plain(history) == expected


def test_continue_as_new_restarts_the_history_and_the_event_ids(make_engine: MakeEngine) -> None:
    # Worked example g: each generation is [OS, ES(input), TaskScheduled#0, ...] again.
    engine = make_engine("review", clock=VirtualClock(T0))
    instance_id = engine.start_new("work_then_continue", input="0")
    status = engine.wait_for_completion(instance_id, 10)
    history = engine.history(instance_id)
    assert status.output == 2
    assert history[1]["OrchestrationInstance"]["InstanceId"] == instance_id
    assert _plain(history) == [
        _marker(OS),
        _started(history, "work_then_continue", "2"),
        _scheduled(0, "Work", "2"),
        _marker(OC),
        _marker(OS),
        {"EventType": 5, "EventId": -1, "Timestamp": AT, "TaskScheduledId": 0, "Result": "2"},
        {
            "EventType": 1,
            "EventId": -1,
            "Timestamp": AT,
            "OrchestrationStatus": "Completed",
            "Result": "2",
        },
        _marker(OC),
    ]


def test_signal_then_call_writes_the_history_of_worked_example_h(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    status = run(engine, "signal_then_call")
    history = engine.history(status.instance_id)
    signal_id = json.loads(history[2]["Input"])["id"]
    call_id = json.loads(history[3]["Input"])["id"]
    assert signal_id != call_id

    def sent(event_id: int, operation: str, request: str, signal: bool, input: str) -> Event:
        payload = {"id": request, "op": operation, "signal": signal, "input": input}
        return {
            "EventType": 14,
            "EventId": event_id,
            "Timestamp": AT,
            "InstanceId": "@counter@myKey",
            "Name": operation,
            "Input": json.dumps(payload),
        }

    assert _plain(history) == [
        _marker(OS),
        _started(history, "signal_then_call", None),
        sent(0, "add", signal_id, True, "5"),
        sent(1, "get", call_id, False, "null"),
        _marker(OC),
        _marker(OS),
        {
            "EventType": 15,
            "EventId": -1,
            "Timestamp": AT,
            "Name": call_id,
            "Input": json.dumps({"result": "5"}),
        },
        {
            "EventType": 1,
            "EventId": -1,
            "Timestamp": AT,
            "OrchestrationStatus": "Completed",
            "Result": "5",
        },
        _marker(OC),
    ]
    assert status.output == 5
