"""Conformance: each Durable pattern runs on the engine as on the real extension. Every test
also replays every recorded history through the SDK (helpers.run) to prove determinism."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, assert_all_replay, event_types, run, wait_until

MakeEngine = Callable[..., DurableEngine]


def test_chaining_returns_each_activity_result_in_order(make_engine: MakeEngine) -> None:
    engine = make_engine("chaining", clock=VirtualClock(T0))
    status = run(engine, "hello_sequence")
    assert status.runtime_status is RuntimeStatus.Completed
    assert status.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert event_types(engine, status.instance_id) == [
        "ExecutionStarted",
        *["TaskScheduled", "TaskCompleted"] * 3,
        "ExecutionCompleted",
    ]


def test_history_numbers_decisions_and_encodes_payloads_like_the_extension(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("chaining", clock=VirtualClock(T0))
    status = run(
        engine,
        "hello_sequence",
        input=json.dumps(["Oslo"]),
    )
    history = engine.history(status.instance_id)
    scheduled = [e for e in history if e["EventType"] == EventType.TaskScheduled]
    completed = [e for e in history if e["EventType"] == EventType.TaskCompleted]
    assert [(e["EventId"], e["Name"], e["Input"]) for e in scheduled] == [
        (0, "say_hello", '"Oslo"')
    ]
    assert [(e["TaskScheduledId"], e["Result"]) for e in completed] == [(0, '"Hello Oslo!"')]
    assert history[0]["EventType"] == EventType.OrchestratorStarted
    assert history[1]["EventType"] == EventType.ExecutionStarted
    assert history[1]["Version"] == ""
    assert (
        status.input == '["Oslo"]'
    )  # the client's double-encoded input, as the extension shows it


def test_fan_out_fan_in_sums_every_parallel_result(make_engine: MakeEngine) -> None:
    engine = make_engine("fanout", clock=VirtualClock(T0))
    status = run(engine, "fan_out", input="40")
    assert status.output == {
        "count": 40,
        "sum": sum(n * n for n in range(40)),
        "squares": [n * n for n in range(40)],
    }
    history = engine.history(status.instance_id)
    ids = [e["EventId"] for e in history if e["EventType"] == EventType.TaskScheduled]
    assert ids == list(range(41))


def test_human_interaction_takes_the_approval_and_cancels_the_timer(
    make_engine: MakeEngine,
) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()  # keep virtual time still until the approver answers
    engine = make_engine("human", clock=clock)
    instance_id = engine.start_new("approval")
    wait_until(
        lambda: (s := engine.get_status(instance_id)) is not None and s.custom_status == "waiting"
    )
    engine.raise_event(instance_id, "Approval", True)
    status = engine.wait_for_completion(instance_id, 10)
    clock.release(hold)
    assert status.output == {"approved": True}
    assert clock.now() == T0
    assert "TimerFired" not in event_types(engine, instance_id)
    assert_all_replay(engine)


def test_human_interaction_times_out_on_the_durable_timer(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("human", clock=clock)
    status = run(engine, "approval")
    assert status.output == "timeout"
    assert clock.now() == T0 + timedelta(hours=72)
    fired = [
        e for e in engine.history(status.instance_id) if e["EventType"] == EventType.TimerFired
    ]
    assert [(e["TimerId"], e["FireAt"]) for e in fired] == [(0, "2026-03-04T09:00:00.000000Z")]


def test_an_event_raised_before_the_wait_is_buffered(make_engine: MakeEngine) -> None:
    engine = make_engine("human", clock=VirtualClock(T0))
    gate = engine.app.module.GATE
    gate.clear()
    try:
        instance_id = engine.start_new("early_event")
        wait_until(
            lambda: (
                (s := engine.get_status(instance_id)) is not None
                and s.runtime_status is RuntimeStatus.Running
            )
        )
        engine.raise_event(instance_id, "Go", {"x": 1})
    finally:
        gate.set()
    status = engine.wait_for_completion(instance_id, 10)
    assert status.output == {"first": "stepped", "event": {"x": 1}}
    assert_all_replay(engine)


def test_monitor_polls_on_timers_until_the_job_is_done(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("monitor", clock=clock)
    status = run(engine, "monitor", input={"done_after": 4})
    assert status.output == {"polls": 4, "state": "done"}
    assert status.custom_status == {"polls": 4, "state": "done"}
    assert clock.now() == T0 + timedelta(minutes=90)


def test_monitor_gives_up_when_it_expires(make_engine: MakeEngine) -> None:
    engine = make_engine("monitor", clock=VirtualClock(T0))
    status = run(engine, "monitor", input={"done_after": 1000})
    assert status.output == {"polls": 12, "state": "expired"}


def test_eternal_orchestration_continues_as_new_with_a_fresh_history(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("eternal", clock=VirtualClock(T0))
    status = run(engine, "counter_loop", input={"generation": 0, "generations": 5, "total": 0})
    assert status.output == {"total": 15, "generation": 4}
    history = engine.history(status.instance_id)
    started = [e for e in history if e["EventType"] == EventType.ExecutionStarted]
    assert len(started) == 1
    assert json.loads(started[0]["Input"])["generation"] == 4
    scheduled = [e["EventId"] for e in history if e["EventType"] == EventType.TaskScheduled]
    assert scheduled == [0]  # the id counter restarts with each execution


def test_events_raised_across_continue_as_new_are_carried_over(make_engine: MakeEngine) -> None:
    engine = make_engine("eternal", clock=VirtualClock(T0))
    instance_id = engine.start_new("event_loop", input="[]")
    for item in ("a", "b", "c", "stop"):
        engine.raise_event(instance_id, "Item", item)
    status = engine.wait_for_completion(instance_id, 10)
    assert status.output == ["a", "b", "c", "stop"]
    assert_all_replay(engine)


def test_sub_orchestrations_with_and_without_ids_failures_and_retries(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("suborch", clock=VirtualClock(T0))
    status = run(engine, "parent", instance_id="order-1")
    assert status.runtime_status is RuntimeStatus.Completed
    output = status.output
    assert output["first"] == {"m": 2, "parent": "order-1"}
    assert output["named"] == {"m": 4, "parent": "order-1"}
    assert output["both"] == [{"m": 6, "parent": "order-1"}, {"m": 8, "parent": "order-1"}]
    assert output["failure"].startswith(
        "Orchestrator function 'failing_child' failed: child failed: boom"
    )
    assert output["retried"] == 2
    named = engine.get_status("order-1-named")
    assert named is not None and named.runtime_status is RuntimeStatus.Completed
    history = engine.history("order-1")
    created = [e for e in history if e["EventType"] == EventType.SubOrchestrationInstanceCreated]
    execution_id = history[1]["OrchestrationInstance"]["ExecutionId"]
    assert created[0]["InstanceId"] == f"{execution_id}:0"
    assert created[1]["InstanceId"] == "order-1-named"
    child_started = engine.history(f"{execution_id}:0")[1]
    assert child_started["ParentInstance"]["OrchestrationInstance"]["InstanceId"] == "order-1"
    assert child_started["ParentInstance"]["TaskScheduleId"] == 0


def test_retry_schedules_timers_and_attempts_with_dtfx_numbering(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("retries", clock=clock)
    status = run(
        engine, "retry_one", input={"key": "r1", "fail_times": 2, "first_ms": 5000, "attempts": 3}
    )
    assert status.output == {"result": "r1 ok after 3"}
    decisions = [
        (EventType(e["EventType"]).name, e["EventId"])
        for e in engine.history(status.instance_id)
        if e["EventType"] in (EventType.TaskScheduled, EventType.TimerCreated)
    ]
    assert decisions == [
        ("TaskScheduled", 0),
        ("TimerCreated", 1),
        ("TaskScheduled", 2),
        ("TimerCreated", 3),
        ("TaskScheduled", 4),
    ]
    assert clock.now() == T0 + timedelta(seconds=10)


def test_retry_gives_up_after_the_extra_timer_with_the_last_failure(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("retries", clock=VirtualClock(T0))
    status = run(
        engine, "retry_one", input={"key": "r2", "fail_times": 9, "first_ms": 1000, "attempts": 2}
    )
    assert status.output == {"failed": "Activity function 'flaky' failed: r2 failure 2"}
    history = engine.history(status.instance_id)
    timers = [e for e in history if e["EventType"] == EventType.TimerCreated]
    failures = [e for e in history if e["EventType"] == EventType.TaskFailed]
    assert [t["EventId"] for t in timers] == [1, 3]
    # The extra timer after the last attempt fires at once (current DTFx).
    assert timers[1]["FireAt"] == failures[1]["Timestamp"]


def test_retries_inside_a_fan_out_complete_whatever_order_failures_arrive(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("retries", clock=VirtualClock(T0))
    specs = [{"key": f"f{i}", "fail_times": i % 3} for i in range(6)]
    status = run(engine, "retry_fan_out", input=json.dumps(specs))
    assert status.output == [f"f{i} ok after {i % 3 + 1}" for i in range(6)]


def test_counter_entity_signal_call_and_errors(make_engine: MakeEngine) -> None:
    engine = make_engine("entities", clock=VirtualClock(T0))
    status = run(engine, "use_counter", input='"k1"')
    assert status.output["after_call"] == 15
    assert status.output["current"] == 15
    assert "unknown operation explode" in status.output["error"]
    assert engine.read_entity_state("Counter", "k1").state == 15
    engine.signal_entity("counter", "k1", "add", 3)
    wait_until(lambda: engine.read_entity_state("Counter", "k1").state == 18)
    engine.signal_entity("Counter", "k1", "delete")
    wait_until(lambda: not engine.read_entity_state("Counter", "k1").exists)


def test_entity_operations_from_concurrent_orchestrations_are_serialized(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("entities", clock=VirtualClock(T0))
    ids = [
        engine.start_new("increment_many", input={"key": "shared", "times": 10}) for _ in range(5)
    ]
    results = [engine.wait_for_completion(i, 20).output for i in ids]
    assert engine.read_entity_state("Counter", "shared").state == 50
    assert max(results) == 50
    assert len(set(results)) == 5  # each last increment saw a distinct total: no lost update
    assert_all_replay(engine)


def test_blueprint_functions_run_under_their_trigger_names(make_engine: MakeEngine) -> None:
    engine = make_engine("blueprints", clock=VirtualClock(T0))
    assert run(engine, "Greeter", input='"ada"').output == "HELLO ADA (#1)"
    assert run(engine, "greeter", input='"bob"').output == "HELLO BOB (#2)"


def test_versioning_default_explicit_and_too_new(make_engine: MakeEngine) -> None:
    engine = make_engine("versioning", clock=VirtualClock(T0))
    current = run(engine, "versioned")
    assert current.output == {"version": "2.0", "step": "new", "child_version": "2.0"}
    legacy = run(engine, "versioned", version="1.0")
    assert legacy.output == {"version": "1.0", "step": "legacy", "child_version": "2.0"}
    too_new = run(engine, "versioned", version="3.0")
    assert too_new.runtime_status is RuntimeStatus.Failed
    assert too_new.output == (
        "Orchestrator function 'versioned' failed: The orchestration version '3.0' is "
        "greater than the worker version '2.0'."
    )


def test_a_cancelled_timer_is_dropped_and_never_fires(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("human", clock=clock)
    instance_id = engine.start_new("approve_then_wait")
    wait_until(
        lambda: (
            (s := engine.get_status(instance_id)) is not None
            and s.runtime_status is RuntimeStatus.Running
        )
    )
    engine.raise_event(instance_id, "Approval", "ok")
    wait_until(
        lambda: (s := engine.get_status(instance_id)) is not None and s.custom_status == "approved"
    )
    clock.release(hold)
    # Idle with nothing due: a virtual clock that still saw the 72 h timer would jump to it.
    engine.raise_event(instance_id, "Done", 1)
    status = engine.wait_for_completion(instance_id, 10)
    assert status.output == {"approved": "ok", "done": 1}
    assert clock.now() == T0
    assert "TimerFired" not in event_types(engine, instance_id)
    assert_all_replay(engine)


def test_a_sub_orchestration_id_that_is_still_running_fails_the_call(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("suborch", clock=VirtualClock(T0))
    engine.start_new("waiter", instance_id="busy-child")
    status = run(engine, "collide", input='"busy-child"')
    assert status.runtime_status is RuntimeStatus.Completed
    assert status.output.startswith("An orchestration with instance ID 'busy-child' already exists")
    engine.raise_event("busy-child", "Go", 5)
    assert engine.wait_for_completion("busy-child", 10).output == 5
