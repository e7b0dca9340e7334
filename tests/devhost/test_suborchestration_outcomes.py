"""A sub-orchestration's failure reaches its parent in the Durable extension's words
(SubOrchestrationInstanceFailed), its result as JSON text (SubOrchestrationInstanceCompleted),
and a child's result for a parent that already finished is dropped."""

from __future__ import annotations

from collections.abc import Callable

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, assert_all_replay, run, wait_until

MakeEngine = Callable[..., DurableEngine]


def test_an_uncaught_child_failure_fails_the_parent_with_both_names(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    status = run(engine, "uncaught_child_failure", instance_id="mom")
    child = engine.get_status("kid")
    assert child is not None and child.runtime_status is RuntimeStatus.Failed
    assert child.output == "Orchestrator function 'failing_child' failed: x"
    created, failed = (
        e
        for e in engine.history("mom")
        if e["EventType"]
        in (EventType.SubOrchestrationInstanceCreated, EventType.SubOrchestrationInstanceFailed)
    )
    assert (created["EventId"], created["Name"], created["InstanceId"], created["Input"]) == (
        0,
        "failing_child",
        "kid",
        '"x"',
    )
    assert (failed["TaskScheduledId"], failed["Reason"]) == (
        0,
        "Orchestrator function 'failing_child' failed: x",
    )
    assert status.runtime_status is RuntimeStatus.Failed
    assert status.output.startswith(
        "Orchestrator function 'uncaught_child_failure' failed: "
        "Orchestrator function 'failing_child' failed: x"
    )


def test_a_child_finishing_after_its_parent_was_terminated_changes_nothing(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    engine.start_new("parent_of_waiter", input='"kid-w"', instance_id="mom-w")
    wait_until(
        lambda: (
            (s := engine.get_status("kid-w")) is not None
            and s.runtime_status is RuntimeStatus.Running
        )
    )
    engine.terminate("mom-w", "not needed")
    wait_until(
        lambda: engine.get_status("mom-w").runtime_status is RuntimeStatus.Terminated  # type: ignore[union-attr]
    )
    parent_history = engine.history("mom-w")
    engine.raise_event("kid-w", "Go", 7)
    assert engine.wait_for_completion("kid-w", 10).output == 7
    # The child's completion message to the finished parent is dropped, not delivered.
    again = run(engine, "one_activity", input='"after"')  # the engine keeps serving
    assert again.output == "Hello after"
    parent = engine.get_status("mom-w")
    assert parent is not None and parent.runtime_status is RuntimeStatus.Terminated
    assert parent.output == "not needed"
    assert engine.history("mom-w") == parent_history
    assert_all_replay(engine)


def test_a_child_result_reaches_the_parent_as_json_text(make_engine: MakeEngine) -> None:
    # A child's output {"m": 2} reaches the parent as SubOrchestrationInstanceCompleted with
    # Result '{"m": 2}' (json.dumps of the output value); the child's input is the action's
    # text (checked by replaying the exchange through azure-functions-durable 1.7.0).
    engine = make_engine("suborch", clock=VirtualClock(T0))
    run(engine, "parent", instance_id="p1")
    history = engine.history("p1")
    created = next(
        e for e in history if e["EventType"] == EventType.SubOrchestrationInstanceCreated
    )
    completed = next(
        e for e in history if e["EventType"] == EventType.SubOrchestrationInstanceCompleted
    )
    assert (created["EventId"], created["Name"], created["Input"]) == (0, "child", '{"n": 1}')
    assert completed["TaskScheduledId"] == 0
    assert completed["Result"] == '{"m": 2, "parent": "p1"}'
    child_started = engine.history(created["InstanceId"])[1]
    assert child_started["Input"] == '{"n": 1}'
    assert child_started["ParentInstance"]["Name"] == "parent"
