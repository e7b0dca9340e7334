"""Timer triggers under `python -m devhost start`: past_due after the host was down across an
occurrence, and firing in virtual time with --virtual-clock."""

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.devhost.helpers import jsonl_records, wait_until
from tests.devhost.host_process import FRONT_APPS, app_copy, running_host

pytestmark = pytest.mark.slow


def _app(tmp_path: Path, schedule: str) -> tuple[Path, Path]:
    record = tmp_path / "record.jsonl"
    values = {"SWEEP_SCHEDULE": schedule, "RECORD": str(record)}
    return app_copy(FRONT_APPS / "timed", tmp_path / "app", values), record


def test_an_occurrence_missed_while_the_host_was_down_fires_past_due_at_restart(
    tmp_path: Path,
) -> None:
    app, record = _app(tmp_path, "*/1 * * * * *")  # every second, with use_monitor=True
    with running_host(app):
        wait_until(lambda: len(jsonl_records(record)) >= 1, timeout=30)
    assert all(r["past_due"] is False for r in jsonl_records(record))
    seen = len(jsonl_records(record))
    time.sleep(1.5)  # down across at least one occurrence
    with running_host(app):
        wait_until(lambda: len(jsonl_records(record)) > seen, timeout=30)
    first_after_restart = jsonl_records(record)[seen]
    assert first_after_restart["past_due"] is True


def test_with_a_virtual_clock_a_daily_timer_fires_day_after_day_in_seconds(tmp_path: Path) -> None:
    app, record = _app(tmp_path, "0 0 9 * * *")
    with running_host(app, "--virtual-clock") as host:
        wait_until(lambda: len(jsonl_records(record)) >= 3, timeout=30)
        clock = host.url
    runs = jsonl_records(record)
    nexts = [datetime.fromisoformat(r["status"]["Next"]) for r in runs[1:3]]
    assert nexts[1] - nexts[0] == timedelta(days=1)
    assert all(n.hour == 9 and n.minute == 0 for n in nexts)
    assert clock.startswith("http://127.0.0.1:")


def test_a_disabled_timer_never_fires_and_never_moves_a_virtual_clock(tmp_path: Path) -> None:
    """`AzureWebJobs.<name>.Disabled` (https://learn.microsoft.com/en-us/azure/azure-functions/disable-function):
    the host starts no listener for the function, so a virtual clock has nothing to jump to."""
    record = tmp_path / "record.jsonl"
    values = {
        "SWEEP_SCHEDULE": "0 0 9 * * *",
        "RECORD": str(record),
        "AzureWebJobs.sweep.Disabled": "true",
    }
    app = app_copy(FRONT_APPS / "timed", tmp_path / "app", values)
    with running_host(app, "--virtual-clock") as host:
        first = requests.get(f"{host.url}/admin/clock", timeout=10).json()
        time.sleep(1.0)
        later = requests.get(f"{host.url}/admin/clock", timeout=10).json()
        log = host.wait_for_log("Function 'sweep' is disabled")
    assert not record.exists()
    assert first == later, "the clock jumped with only a disabled timer"
    assert "disabled" in log


def test_a_held_virtual_clock_does_not_jump_until_released(tmp_path: Path) -> None:
    """`POST /admin/clock {"hold": true}`: someone outside the host acts over several requests
    while the host is idle, and no day passes meanwhile; `{"release": token}` lets it jump."""
    app, record = _app(tmp_path, "0 0 9 * * *")
    with running_host(app, "--virtual-clock") as host:
        held = requests.post(f"{host.url}/admin/clock", json={"hold": True}, timeout=10)
        assert held.status_code == 200, held.text
        first = requests.get(f"{host.url}/admin/clock", timeout=10).json()
        time.sleep(1.0)
        later = requests.get(f"{host.url}/admin/clock", timeout=10).json()
        seen = len(jsonl_records(record))
        released = requests.post(
            f"{host.url}/admin/clock", json={"release": held.json()["hold"]}, timeout=10
        )
        assert released.status_code == 200, released.text
        wait_until(lambda: len(jsonl_records(record)) >= seen + 2, timeout=30)
        after = requests.get(f"{host.url}/admin/clock", timeout=10).json()
    assert first == later, "the clock jumped while held"
    assert datetime.fromisoformat(after["now"]) > datetime.fromisoformat(later["now"])
