"""The engine's client API: terminate, suspend/resume, purge, list, history view, restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.errors import EngineError
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, event_types, run, wait_until

MakeEngine = Callable[..., DurableEngine]


def _waiting(engine: DurableEngine, instance_id: str) -> bool:
    status = engine.get_status(instance_id)
    return status is not None and status.custom_status == "waiting"


def test_terminate_records_the_reason_as_output(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("human", clock=clock)
    instance_id = engine.start_new("approval")
    wait_until(lambda: _waiting(engine, instance_id))
    engine.terminate(instance_id, "customer cancelled")
    clock.release(hold)
    status = engine.wait_for_completion(instance_id, 5)
    assert status.runtime_status is RuntimeStatus.Terminated
    assert status.output == "customer cancelled"
    assert event_types(engine, instance_id)[-1] == "ExecutionTerminated"


def test_a_suspended_instance_keeps_its_events_until_resumed(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("human", clock=clock)
    instance_id = engine.start_new("approval")
    wait_until(lambda: _waiting(engine, instance_id))
    engine.suspend(instance_id, "paused by ops")
    engine.raise_event(instance_id, "Approval", "yes")
    status = engine.get_status(instance_id)
    assert status is not None and status.runtime_status is RuntimeStatus.Suspended
    engine.resume(instance_id, "go on")
    status = engine.wait_for_completion(instance_id, 5)
    clock.release(hold)
    assert status.output == {"approved": "yes"}
    types = event_types(engine, instance_id)
    assert types.index("ExecutionSuspended") < types.index("ExecutionResumed")
    assert types.count("EventRaised") == 1


def test_purge_deletes_finished_instances_only(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("human", clock=clock)
    running = engine.start_new("approval")
    assert engine.purge(running) == 0
    engine.terminate(running, "stop")
    engine.wait_for_completion(running, 5)
    assert engine.purge(running) == 1
    assert engine.get_status(running) is None
    assert engine.purge(running) == 0
    clock.release(hold)


def test_purge_many_by_status_and_creation_time(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("chaining", clock=clock)
    first = run(engine, "hello_sequence")
    clock.advance(timedelta(days=1))
    second = run(engine, "hello_sequence")
    assert engine.purge_many(created_to=T0 + timedelta(hours=1)) == 1
    assert engine.get_status(first.instance_id) is None
    assert engine.purge_many(statuses=["Failed"]) == 0
    assert engine.purge_many(statuses=[RuntimeStatus.Completed]) == 1
    assert engine.get_status(second.instance_id) is None


def test_list_instances_filters_and_pages(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    engine = make_engine("chaining", clock=clock)
    ids = [run(engine, "hello_sequence", instance_id=f"order-{n}").instance_id for n in range(5)]
    run(engine, "hello_sequence", instance_id="other-1")
    page, token = engine.list_instances(instance_id_prefix="order-", page_size=2)
    seen = [s.instance_id for s in page]
    while token is not None:
        page, token = engine.list_instances(
            instance_id_prefix="order-", page_size=2, continuation_token=token
        )
        seen.extend(s.instance_id for s in page)
    assert sorted(seen) == sorted(ids)
    completed, _ = engine.list_instances(statuses=["Completed"])
    assert len(completed) == 6
    assert engine.list_instances(statuses=["Running"])[0] == []


def test_status_payload_and_history_view_match_the_extension(make_engine: MakeEngine) -> None:
    engine = make_engine("chaining", clock=VirtualClock(T0))
    done = run(engine, "hello_sequence", input='["Rome"]', instance_id="view-1")
    status = engine.get_status("view-1", show_history=True, show_history_output=True)
    assert status is not None
    payload = status.to_json()
    assert payload["runtimeStatus"] == "Completed"
    assert payload["createdTime"] == "2026-03-01T09:00:00Z"
    assert payload["input"] == '["Rome"]'
    assert payload["output"] == ["Hello Rome!"]
    events = payload["historyEvents"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    assert events[0]["FunctionName"] == "hello_sequence"
    assert events[1]["FunctionName"] == "say_hello"
    assert events[1]["Input"] == '"Rome"'
    assert events[1]["Result"] == '"Hello Rome!"'
    assert "EventId" not in events[1] and "IsPlayed" not in events[1]
    quiet = engine.get_status(done.instance_id, show_history=True, show_input=False)
    assert quiet is not None and quiet.input is None
    assert quiet.history_events is not None and "Result" not in quiet.history_events[1]


def test_state_survives_a_restart_on_the_same_database(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("human", clock=clock)
    instance_id = engine.start_new("approval")
    wait_until(lambda: _waiting(engine, instance_id))
    engine.close()
    again = make_engine("human", clock=clock)
    again.raise_event(instance_id, "Approval", 7)
    assert again.wait_for_completion(instance_id, 5).output == {"approved": 7}
    clock.release(hold)


def test_a_continued_as_new_execution_survives_a_restart(make_engine: MakeEngine) -> None:
    # The new execution's id and input are stored with it, so the restarted engine resumes
    # that execution, not the first one. (Inputs are the client's JSON strings.)
    engine = make_engine("eternal", clock=VirtualClock(T0))
    instance_id = engine.start_new("event_loop", input="[]")
    engine.raise_event(instance_id, "Item", "a")
    wait_until(lambda: _input(engine, instance_id) == '["a"]')
    engine.close()
    again = make_engine("eternal", clock=VirtualClock(T0))
    assert _input(again, instance_id) == '["a"]'
    again.raise_event(instance_id, "Item", "stop")
    assert again.wait_for_completion(instance_id, 5).output == ["a", "stop"]


def _input(engine: DurableEngine, instance_id: str) -> object:
    status = engine.get_status(instance_id)
    assert status is not None
    return status.input


def test_restart_runs_the_orchestrator_again_with_the_same_input(make_engine: MakeEngine) -> None:
    engine = make_engine("chaining", clock=VirtualClock(T0))
    first = run(engine, "hello_sequence", input='["Kyiv"]', instance_id="again")
    fresh = engine.restart("again")
    assert fresh != "again"
    assert engine.wait_for_completion(fresh, 5).output == first.output
    same = engine.restart("again", new_instance_id=False)
    assert same == "again"
    assert engine.wait_for_completion("again", 5).output == ["Hello Kyiv!"]


def test_an_instance_suspended_before_it_ran_starts_on_resume(make_engine: MakeEngine) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("chaining", clock=clock, start=False)
    instance_id = engine.start_new("hello_sequence")
    engine.suspend(instance_id)
    engine.start()
    status = engine.get_status(instance_id)
    assert status is not None and status.runtime_status is RuntimeStatus.Suspended
    engine.resume(instance_id)
    assert engine.wait_for_completion(instance_id, 5).runtime_status is RuntimeStatus.Completed
    clock.release(hold)
    history = engine.history(instance_id)
    assert [e["EventType"] for e in history[:2]] == [12, 0]  # OrchestratorStarted, ExecutionStarted
    engine.replay_check(instance_id)


def test_a_crashed_worker_makes_the_api_say_so_instead_of_hanging(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine("chaining", clock=VirtualClock(T0), start=False)
    instance_id = engine.start_new("hello_sequence")

    def disk_full(batch: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(engine._store, "commit", disk_full)
    engine.start()
    with pytest.raises(EngineError, match=r"worker crashed.*disk full"):
        engine.wait_for_completion(instance_id, 10)
    with pytest.raises(EngineError, match="worker crashed"):
        engine.start_new("hello_sequence")
