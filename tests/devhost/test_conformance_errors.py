"""Conformance: failures read as the real host writes them, and bad requests say why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine, EngineSettings
from devhost.errors import (
    FunctionNotFoundError,
    InstanceExistsError,
    InstanceGoneError,
    InstanceNotFoundError,
    InvalidRequestError,
)
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, run

MakeEngine = Callable[..., DurableEngine]


@pytest.mark.parametrize(
    ("orchestrator", "expected"),
    [
        ("raises", "Orchestrator function 'raises' failed: the order is invalid"),
        (
            "unknown_activity",
            "Orchestrator function 'unknown_activity' failed: The function 'no_such_activity' "
            "doesn't exist, is disabled, or is not an activity function.",
        ),
        (
            "nondeterministic",
            "Orchestrator function 'nondeterministic' failed: Non-Deterministic workflow "
            "detected: A previous execution of this orchestration scheduled an activity task "
            "named 'ok' with sequence ID 0",
        ),
        (
            "unserializable",
            "Orchestrator function 'unserializable' failed: Object of type set is not JSON serializable",
        ),
        (
            "bad_activity_output",
            "Orchestrator function 'bad_activity_output' failed: Activity function "
            "'returns_a_set' failed: activity trigger output must be json serializable ({1, 2})",
        ),
        (
            "activity_fails",
            "Orchestrator function 'activity_fails' failed: Activity function 'explode' failed: "
            "activity exploded: kaboom",
        ),
    ],
)
def test_a_failed_orchestration_reports_the_reason(
    make_engine: MakeEngine, orchestrator: str, expected: str
) -> None:
    engine = make_engine("errors", clock=VirtualClock(T0))
    instance_id = engine.start_new(orchestrator)
    status = engine.wait_for_completion(instance_id, 10)
    assert status.runtime_status is RuntimeStatus.Failed
    assert status.output.startswith(expected)


def test_starting_an_unknown_orchestrator_names_it(make_engine: MakeEngine) -> None:
    engine = make_engine("errors", clock=VirtualClock(T0))
    with pytest.raises(FunctionNotFoundError, match=r"'nope' doesn't exist.*orchestrator"):
        engine.start_new("nope")


def test_an_input_that_is_not_json_is_refused(make_engine: MakeEngine) -> None:
    engine = make_engine("errors", clock=VirtualClock(T0))
    with pytest.raises(InvalidRequestError, match="orchestration input is not JSON serializable"):
        engine.start_new("raises", input={1, 2})


@pytest.mark.parametrize("bad_id", ["", "@entity", "a/b", "a?b", "a#b", "x" * 257, "tab\tid"])
def test_invalid_instance_ids_are_refused(make_engine: MakeEngine, bad_id: str) -> None:
    engine = make_engine("errors", clock=VirtualClock(T0))
    with pytest.raises(InvalidRequestError, match="instance id"):
        engine.start_new("raises", instance_id=bad_id)


def test_an_active_instance_id_cannot_be_reused_but_a_finished_one_can(
    make_engine: MakeEngine,
) -> None:
    clock = VirtualClock(T0)
    hold = clock.hold()
    engine = make_engine("human", clock=clock)
    engine.start_new("approval", instance_id="dup")
    with pytest.raises(InstanceExistsError, match="'dup' already exists"):
        engine.start_new("approval", instance_id="dup")
    engine.terminate("dup", "replaced")
    engine.start_new("approval", instance_id="dup")
    clock.release(hold)
    assert engine.wait_for_completion("dup", 10).output == "timeout"


def test_events_to_unknown_or_finished_instances_are_refused(make_engine: MakeEngine) -> None:
    engine = make_engine("chaining", clock=VirtualClock(T0))
    with pytest.raises(InstanceNotFoundError):
        engine.raise_event("missing", "E", 1)
    done = run(engine, "hello_sequence")
    with pytest.raises(InstanceGoneError):
        engine.raise_event(done.instance_id, "E", 1)
    with pytest.raises(InstanceGoneError):
        engine.terminate(done.instance_id)
    with pytest.raises(InvalidRequestError, match="event data is not JSON"):
        engine.raise_event(done.instance_id, "E", object())


def test_a_version_the_worker_rejects_waits_instead_of_running(make_engine: MakeEngine) -> None:
    settings = EngineSettings(
        default_version="1.0", version_match_strategy="Strict", version_failure_strategy="Reject"
    )
    engine = make_engine("versioning", clock=VirtualClock(T0), settings=settings)
    rejected = engine.start_new("versioned", version="0.9")
    accepted = engine.start_new("versioned")
    assert engine.wait_for_completion(accepted, 10).output["version"] == "1.0"
    status = engine.get_status(rejected)
    assert status is not None and status.runtime_status is RuntimeStatus.Pending
    assert engine.history(rejected) == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"versionMatchStrategy": "Loose"},
            "versionMatchStrategy must be None, Strict or CurrentOrOlder",
        ),
        ({"versionFailureStrategy": "Retry"}, "versionFailureStrategy must be Reject or Fail"),
        (
            {"maxConcurrentActivityFunctions": 0},
            "maxConcurrentActivityFunctions must be a positive",
        ),
    ],
)
def test_bad_durable_settings_in_host_json_are_named(
    section: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        EngineSettings.from_host_json(section)
