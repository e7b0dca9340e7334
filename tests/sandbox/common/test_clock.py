"""RemoteClock: a sandbox following devhost's virtual clock over HTTP never dates a request
before a jump the caller has already seen."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devhost.clock import VirtualClock
from sandbox.common.clock import RemoteClock

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


class ServedClock:
    """A virtual clock served as devhost serves its own: `GET` answers `{"now": ...}`."""

    def __init__(self) -> None:
        self.now = START
        self.reads = 0
        self.delay_s = 0.0
        self.file: str | None = None
        self._lock = threading.Lock()
        clock = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with clock._lock:
                    clock.reads += 1
                    answer = {"now": clock.now.isoformat()}
                    if clock.file is not None:
                        answer["file"] = clock.file
                    body = json.dumps(answer).encode()
                time.sleep(clock.delay_s)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/clock"

    def jump(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


@pytest.fixture
def served() -> Iterator[ServedClock]:
    served = ServedClock()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_a_reading_right_after_a_jump_is_the_new_time(served: ServedClock):
    # devhost jumps a day when idle and runs the due retry at once; the retry's charge must
    # be dated on the new day, however soon after the sandbox's last reading it comes.
    clock = RemoteClock(served.url)
    assert clock.now() == START
    served.jump(timedelta(days=1))
    assert clock.now() == START + timedelta(days=1)
    served.jump(timedelta(days=2))
    assert clock.now() == START + timedelta(days=3)


def test_calls_made_while_a_reading_is_fetched_share_one_more_round_trip_at_most(
    served: ServedClock,
):
    clock = RemoteClock(served.url)
    served.delay_s = 0.2
    readings: list[datetime] = []
    threads = [threading.Thread(target=lambda: readings.append(clock.now())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert readings == [START] * 8
    assert served.reads <= 2


def test_a_clock_file_named_by_the_host_is_read_without_another_request(
    served: ServedClock, tmp_path
):
    published = VirtualClock(START, publish=tmp_path / "clock")
    served.file = str(tmp_path / "clock")
    clock = RemoteClock(served.url)
    clock.now()
    published.advance(timedelta(days=3))
    assert clock.now() == START + timedelta(days=3)
    assert served.reads == 1


def test_a_clock_file_that_cannot_be_mapped_leaves_the_clock_on_http(served: ServedClock):
    served.file = "/nonexistent/clock"
    clock = RemoteClock(served.url)
    clock.now()
    served.jump(timedelta(days=1))
    assert clock.now() == START + timedelta(days=1)
    assert served.reads == 2
