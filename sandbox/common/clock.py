"""A clock that follows another process's clock over HTTP (devhost's virtual clock).

`GET <url>` must answer `{"now": "<ISO 8601 UTC>"}`. Calls that come in while a reading is
being fetched share it, so a burst of requests costs one round trip; a call never gets a
reading fetched before it began. devhost's virtual clock jumps the moment its host is idle
and at once runs what was due, which may call a sandbox within milliseconds: a reading kept
for a while (even 50 ms, while the Stripe sandbox's automation reads the clock every 100 ms)
would date that request before the jump, such as a dunning retry's charge a day early.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import requests


class RemoteClock:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        # The last reading and the monotonic time its fetch began.
        self._cached: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        began = time.monotonic()
        with self._lock:
            # Fetched by a call that began after this one did (this one waited for it):
            # the clock read then cannot be behind the time this call was made.
            if self._cached is not None and self._cached[0] > began:
                return self._cached[1]
            fetch_began = time.monotonic()
            resp = requests.get(self._url, timeout=self._timeout_s)
            resp.raise_for_status()
            when = datetime.fromisoformat(resp.json()["now"])
            if when.tzinfo is None:
                raise ValueError(f"clock at {self._url} returned a naive time: {when}")
            self._cached = (fetch_began, when)
            return when


@runtime_checkable
class Clock(Protocol):
    """Any source of UTC-aware time: `RemoteClock`, `SystemClock`, or a test's manual clock.

    The sandboxes' own protocol, so they import nothing from the app they stand in for."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
