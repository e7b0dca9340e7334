"""Activities in worker processes (FUNCTIONS_WORKER_PROCESS_COUNT), as the Functions host runs
a Python app: the same results and failures as on the host's own threads, each activity in
another process, and a worker that dies mid-activity failing that activity (the retry policy
runs it again on the worker that replaces it)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.settings import SettingsError, worker_process_count
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0, run

MakeEngine = Callable[..., DurableEngine]


def test_activities_run_in_the_worker_processes_not_in_the_host(make_engine: MakeEngine) -> None:
    engine = make_engine("workers", clock=VirtualClock(T0), worker_processes=2)
    status = run(engine, "where_run", input="8")
    assert status.runtime_status is RuntimeStatus.Completed
    pids = set(status.output["pids"])
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # an async activity runs on its worker's event loop
    assert status.output["async"]["text"] == "x" and status.output["async"]["pid"] != os.getpid()


def test_a_worker_reports_a_failure_in_the_words_the_host_threads_use(
    make_engine: MakeEngine,
) -> None:
    in_workers = run(make_engine("workers", clock=VirtualClock(T0), worker_processes=1,
                                 db="workers.db"), "where_run", input="1")  # fmt: skip
    on_threads = run(make_engine("workers", clock=VirtualClock(T0), db="threads.db"),
                     "where_run", input="1")  # fmt: skip
    assert in_workers.output["failure"] == on_threads.output["failure"]
    assert in_workers.output["failure"].startswith("Activity function 'refuse' failed: refused")
    assert on_threads.output["pids"] == [os.getpid()]


def test_a_worker_that_dies_mid_activity_fails_it_and_is_replaced(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    engine = make_engine("workers", clock=VirtualClock(T0), worker_processes=1)
    marker = tmp_path / "died"
    status = run(engine, "survive_a_crash", input=json.dumps(str(marker)))
    assert status.runtime_status is RuntimeStatus.Completed
    assert "the worker process running it exited (exit code 3)" in status.output["first_try"]
    # the activity ran again, on the worker that replaced the dead one
    assert status.output["pid"] not in (os.getpid(), int(marker.read_text()))


@pytest.mark.parametrize(
    ("value", "count"),
    [(None, 0), ("", 0), ("1", 1), ("2", 2), ("10", 10)],
)
def test_the_worker_process_count_comes_from_the_app_setting(value: str | None, count: int) -> None:
    environ = {} if value is None else {"FUNCTIONS_WORKER_PROCESS_COUNT": value}
    assert worker_process_count(environ) == count


@pytest.mark.parametrize("value", ["0", "11", "two", "-1", "1.5"])
def test_a_worker_process_count_out_of_range_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="FUNCTIONS_WORKER_PROCESS_COUNT"):
        worker_process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": value})
