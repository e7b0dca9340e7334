import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devhost.clock_file import ClockFile
from shared.clock import Clock, HttpClock, ManualClock, MappedClock, SystemClock, app_clock
from shared.errors import TransientError

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def test_system_clock_is_utc_aware():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(T0)
    assert clock.now() == T0
    assert clock.advance(timedelta(days=1)) == T0 + timedelta(days=1)
    clock.set(T0 + timedelta(days=2))
    assert clock.now() == T0 + timedelta(days=2)


def test_manual_clock_never_goes_back():
    clock = ManualClock(T0)
    with pytest.raises(ValueError, match="back"):
        clock.set(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="back"):
        clock.advance(timedelta(seconds=-1))


def test_manual_clock_refuses_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))


@pytest.mark.parametrize("clock", [SystemClock(), ManualClock(T0)])
def test_both_clocks_satisfy_the_protocol(clock):
    assert isinstance(clock, Clock)


# HttpClock / app_clock: the time a simulation's host keeps, read over HTTP.


@pytest.fixture
def clock_server():
    """A loopback server answering GET with `{"now": ...}` (what devhost's /admin/clock says),
    counting the requests."""
    state: dict[str, Any] = {"now": "2027-01-05T10:00:00+00:00", "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["hits"] += 1
            answer = {"now": state["now"], "virtual": True}
            if "file" in state:
                answer["file"] = state["file"]
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/admin/clock", state
    server.shutdown()


def test_an_http_clock_never_answers_with_a_reading_fetched_before_the_call(clock_server):
    url, state = clock_server
    clock = HttpClock(url)
    assert clock.now() == datetime(2027, 1, 5, 10, tzinfo=UTC)
    state["now"] = "2027-01-06T10:00:00+00:00"  # the host's clock jumped
    assert clock.now() == datetime(2027, 1, 6, 10, tzinfo=UTC)
    assert state["hits"] == 2


def test_an_http_clock_reads_the_clock_file_the_host_names_without_asking_again(
    clock_server, tmp_path
):
    url, state = clock_server
    published = ClockFile(tmp_path / "clock")
    published.write(datetime(2027, 3, 1, 9, 30, 0, 250, tzinfo=UTC))
    state["file"] = str(tmp_path / "clock")
    clock = HttpClock(url)
    clock.now()  # the one request: it names the file
    assert clock.now() == datetime(2027, 3, 1, 9, 30, 0, 250, tzinfo=UTC)
    published.write(datetime(2027, 3, 2, tzinfo=UTC))
    assert clock.now() == datetime(2027, 3, 2, tzinfo=UTC)
    assert state["hits"] == 1


@pytest.mark.parametrize("named", ["/nonexistent/clock", "not a file"])
def test_an_http_clock_keeps_to_http_when_the_named_file_cannot_be_mapped(
    clock_server, tmp_path, named
):
    url, state = clock_server
    state["file"] = named
    clock = HttpClock(url)
    clock.now()
    state["now"] = "2027-01-06T10:00:00+00:00"
    assert clock.now() == datetime(2027, 1, 6, 10, tzinfo=UTC)
    assert state["hits"] == 2


def test_a_file_that_is_not_a_clock_file_is_refused(tmp_path):
    (tmp_path / "other").write_bytes(b"x" * 24)
    with pytest.raises(ValueError, match="not a clock file"):
        MappedClock(str(tmp_path / "other"))


def test_an_http_clock_that_does_not_answer_is_a_transient_failure():
    with pytest.raises(TransientError, match="did not answer"):
        HttpClock("http://127.0.0.1:9/admin/clock", timeout_s=0.5).now()


def test_the_app_reads_the_system_clock_unless_a_simulation_names_its_own(configure, clock_server):
    url, _ = clock_server
    assert isinstance(app_clock(configure()), SystemClock)
    simulated = app_clock(configure(DEVHOST_CLOCK_URL=url))
    assert simulated.now() == datetime(2027, 1, 5, 10, tzinfo=UTC)
