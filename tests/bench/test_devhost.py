"""The benchmark's floor is the workload's own cost: devhost batches each workload into the
least number of episodes, and the contexts rebuilt as the extension sends them replay the
workload to its end through the stock SDK."""

import json

import pytest

from bench.devhost import APP_DIR, WORKLOADS, Workload, run_devhost
from devhost.app import load_app
from devhost.speedups import memoize_timestamp_parsing, restore_timestamp_parsing

EXPECTED_OUTPUT = {
    "sequential": sum(range(1, 101)),
    "fan_out": sum(range(1, 501)),
    "hello_sequence5": [f"Hello {c}!" for c in ("Tokyo", "Seattle", "London", "Cairo", "Lima")],
}


@pytest.fixture(scope="module")
def app():
    return load_app(APP_DIR)


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.orchestrator)
def test_devhost_runs_each_workload_in_its_least_number_of_episodes(app, tmp_path, workload):
    run = run_devhost(app, workload, tmp_path / "bench.db")
    assert len(run.contexts) == workload.ideal_episodes * workload.instances
    assert len(run.full_contexts) == len(run.contexts)


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.orchestrator)
def test_the_floors_contexts_replay_the_workload_to_its_end_in_the_stock_sdk(
    app, tmp_path, workload: Workload
):
    run = run_devhost(app, workload, tmp_path / "bench.db")
    handle = app.orchestrators[workload.orchestrator].user_function
    per_instance = workload.ideal_episodes
    restore_timestamp_parsing()
    try:
        replies = [json.loads(handle(context)) for context in run.full_contexts]
    finally:
        memoize_timestamp_parsing()
    for n, reply in enumerate(replies):
        last_of_instance = n % per_instance == per_instance - 1
        assert bool(reply.get("isDone")) is last_of_instance
        if last_of_instance:
            assert reply["output"] == EXPECTED_OUTPUT[workload.orchestrator]
