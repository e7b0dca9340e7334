"""host.json's concurrency limits hold, measured inside the functions:
maxConcurrentActivityFunctions caps (and is reached by) a fan-out of sync and async
activities; orchestrator executions never overlap (at most 1, under
maxConcurrentOrchestratorFunctions)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devhost.app import load_app
from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from tests.devhost.helpers import T0, run

MakeEngine = Callable[..., DurableEngine]


def test_activities_run_at_most_max_concurrent_activity_functions_at_once(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    assert engine.settings.max_concurrent_activities == 3  # the app's host.json
    probe = engine.app.module.PROBE
    probe.peak = 0
    status = run(engine, "probe_fan_out", input="12")
    assert status.output == 24
    # 24 activities (half sync, half async) sleep 150 ms each: the pool fills up to its cap.
    assert probe.peak == 3
    assert probe.running == 0


@pytest.mark.parametrize("limit", [1, 5])
def test_the_activity_cap_follows_host_json(
    make_engine: MakeEngine, app_path: Callable[[str], Path], limit: int
) -> None:
    loaded = load_app(app_path("review"))
    loaded.host_json["extensions"]["durableTask"]["maxConcurrentActivityFunctions"] = limit
    engine = make_engine(loaded, clock=VirtualClock(T0))
    probe = engine.app.module.PROBE
    probe.peak = 0
    run(engine, "probe_fan_out", input="8")
    assert probe.peak == limit


def test_orchestrator_executions_never_overlap(make_engine: MakeEngine) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    assert engine.settings.max_concurrent_orchestrators == 2  # the app's host.json
    probe = engine.app.module.ORCHESTRATOR_PROBE
    probe.peak = 0
    ids = [engine.start_new("probe_episode", input=str(n)) for n in range(8)]
    outputs = [engine.wait_for_completion(i, 10).output for i in ids]
    assert outputs == list(range(8))
    assert probe.peak == 1
