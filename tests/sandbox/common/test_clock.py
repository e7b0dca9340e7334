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

from sandbox.common.clock import RemoteClock

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


class ServedClock:
    """A virtual clock served as devhost serves its own: `GET` answers `{"now": ...}`."""

    def __init__(self) -> None:
        self.now = START
        self.reads = 0
        self.delay_s = 0.0
        self._lock = threading.Lock()
        clock = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with clock._lock:
                    clock.reads += 1
                    body = json.dumps({"now": clock.now.isoformat()}).encode()
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
