"""Stopping `python -m devhost start` (SIGTERM, as Ctrl-C or `make run` do) while a function
is still running: the stop is bounded, as the Functions host ends its worker then."""

import threading
from pathlib import Path

import pytest
import requests

from tests.devhost.host_process import FRONT_APPS, app_copy, start_host

pytestmark = pytest.mark.slow


def test_a_stop_does_not_wait_for_a_sync_function_that_never_returns(tmp_path: Path) -> None:
    # Before: aiohttp waited 60 s for the request, then asyncio.run for the function's thread.
    host = start_host(app_copy(FRONT_APPS / "stuck", tmp_path / "app"))
    assert host.url, host.log()
    answers: list[object] = []

    def call() -> None:
        try:
            answers.append(requests.get(f"{host.url}/api/stuck", timeout=60).status_code)
        except requests.RequestException as exc:
            answers.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    try:
        host.wait_for_log("Executing 'Functions.stuck'", timeout_s=30)
        assert host.stop() == 0  # within 30 s, or it fails saying so
    finally:
        if host.process.poll() is None:
            host.kill()
    assert "1 function call(s) still running; exiting without them" in host.log()
    caller.join(timeout=30)
    assert answers, "the caller was left waiting on a host that had exited"
