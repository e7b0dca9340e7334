"""The orchestration versioning matrix (host.json defaultVersion, versionMatchStrategy
None/Strict/CurrentOrOlder, versionFailureStrategy Fail), one row per rule of Microsoft Learn
"Orchestration versioning in Durable Functions"
(https://learn.microsoft.com/en-us/azure/azure-functions/durable/durable-functions-orchestration-versioning):
None runs any version; Strict runs only the worker's version; CurrentOrOlder runs the
worker's version and older ones, compared as versions, not text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine, EngineSettings
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0

MakeEngine = Callable[..., DurableEngine]


@pytest.mark.parametrize(
    ("strategy", "version", "failure"),
    [
        ("None", "3.0", None),
        ("None", "1.0", None),
        ("Strict", "2.0", None),
        (
            "Strict",
            "1.0",
            "The orchestration version '1.0' does not match the worker version '2.0'.",
        ),
        (
            "Strict",
            "3.0",
            "The orchestration version '3.0' does not match the worker version '2.0'.",
        ),
        ("CurrentOrOlder", "2.0", None),
        ("CurrentOrOlder", "1.0", None),
        ("CurrentOrOlder", "1.10", None),
        # 10.0 sorts before 2.0 as text; as a version it is newer and must be refused.
        (
            "CurrentOrOlder",
            "10.0",
            "The orchestration version '10.0' is greater than the worker version '2.0'.",
        ),
    ],
)
def test_version_match_strategy_decides_which_versions_run(
    make_engine: MakeEngine, strategy: str, version: str, failure: str | None
) -> None:
    settings = EngineSettings(
        default_version="2.0", version_match_strategy=strategy, version_failure_strategy="Fail"
    )
    engine = make_engine("versioning", clock=VirtualClock(T0), settings=settings)
    instance_id = engine.start_new("versioned", version=version)
    status = engine.wait_for_completion(instance_id, 10)
    if failure is None:
        assert status.runtime_status is RuntimeStatus.Completed
        step = "legacy" if version == "1.0" else "new"
        assert status.output == {"version": version, "step": step, "child_version": "2.0"}
    else:
        assert status.runtime_status is RuntimeStatus.Failed
        assert status.output == f"Orchestrator function 'versioned' failed: {failure}"


def test_an_instance_started_without_a_version_takes_the_default(make_engine: MakeEngine) -> None:
    settings = EngineSettings(default_version="1.0", version_match_strategy="Strict")
    engine = make_engine("versioning", clock=VirtualClock(T0), settings=settings)
    status = engine.wait_for_completion(engine.start_new("versioned"), 10)
    assert status.output == {"version": "1.0", "step": "legacy", "child_version": "1.0"}
