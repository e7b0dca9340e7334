"""A clock that follows another process's clock over HTTP (devhost's virtual clock).

`GET <url>` must answer `{"now": "<ISO 8601 UTC>"}`. When the answer also names a clock
file this process can map (`"file"`: devhost on the same machine, devhost/clock_file.py),
every later reading is a memory read from it instead of a request. Over HTTP, calls that come in while a reading is
being fetched share it, so a burst of requests costs one round trip; a call never gets a
reading fetched before it began. devhost's virtual clock jumps the moment its host is idle
and at once runs what was due, which may call a sandbox within milliseconds: a reading kept
for a while (even 50 ms, while the Stripe sandbox's automation reads the clock every 100 ms)
would date that request before the jump, such as a dunning retry's charge a day early.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import requests


class RemoteClock:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._mapped: MappedClock | None = None
        # The last reading and the monotonic time its fetch began.
        self._cached: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        mapped = self._mapped
        if mapped is not None:
            return mapped.now()
        began = time.monotonic()
        with self._lock:
            if self._mapped is not None:
                return self._mapped.now()
            # Fetched by a call that began after this one did (this one waited for it):
            # the clock read then cannot be behind the time this call was made.
            if self._cached is not None and self._cached[0] > began:
                return self._cached[1]
            fetch_began = time.monotonic()
            resp = self._session.get(self._url, timeout=self._timeout_s)
            resp.raise_for_status()
            answer = resp.json()
            when = datetime.fromisoformat(answer["now"])
            if when.tzinfo is None:
                raise ValueError(f"clock at {self._url} returned a naive time: {when}")
            path = answer.get("file")
            if isinstance(path, str):
                # Not on this machine, or not a clock file: keep to HTTP.
                with contextlib.suppress(OSError, ValueError):
                    self._mapped = MappedClock(path)
            self._cached = (fetch_began, when)
            return when


# The sandboxes import nothing of the app, so this reader is their own (the app's is in
# shared/clock.py); the layout is devhost's (devhost/clock_file.py).
_MAGIC = b"cspclk01"
_LAYOUT = struct.Struct("<8sQq")
_SEQUENCE = struct.Struct("<Q")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MappedClock:
    """The time devhost publishes in its clock file: a memory read, taken between two equal
    even sequence numbers (the writer makes it odd while it writes)."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), _LAYOUT.size, access=mmap.ACCESS_READ)
        if self._map[:8] != _MAGIC:
            self._map.close()
            raise ValueError(f"{path} is not a clock file")

    def now(self) -> datetime:
        while True:
            _, before, micros = _LAYOUT.unpack_from(self._map)
            after = _SEQUENCE.unpack_from(self._map, 8)[0]
            if before == after and not before & 1:
                return _EPOCH + timedelta(microseconds=micros)
            time.sleep(0)  # the writer is between its two stores: let it finish


@runtime_checkable
class Clock(Protocol):
    """Any source of UTC-aware time: `RemoteClock`, `SystemClock`, or a test's manual clock.

    The sandboxes' own protocol, so they import nothing from the app they stand in for."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
