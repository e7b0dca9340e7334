"""Clocks: the one notion of "now" that sandboxes, timer triggers and activities share.

Orchestrators never use these (they read `context.current_utc_datetime`). Everything else
that needs the time takes a `Clock`, so the local host can run months of virtual time in
seconds and every component sees the same instant.
"""

from __future__ import annotations

import mmap
import struct
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import requests

from shared.errors import TransientError
from shared.proxies import TRUST_ENVIRONMENT

if TYPE_CHECKING:
    from shared.config import Settings


@runtime_checkable
class Clock(Protocol):
    """A source of UTC-aware time."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    virtual = False  # time moves on its own: a poller may sleep in long real steps

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; thread-safe. For tests and simulations."""

    virtual = True

    def __init__(self, start: datetime) -> None:
        _require_aware(start)
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        _require_aware(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"clock cannot go back from {self._now} to {when}")
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("clock cannot go back")
        with self._lock:
            self._now += delta
            return self._now


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("clock times must be timezone-aware (UTC)")


class MappedClock:
    """The time a local host publishes in a memory-mapped file (devhost/clock_file.py: the
    magic `cspclk01`, a sequence number odd while written, microseconds since the epoch). A
    reading is a memory read: taken between two equal even sequence numbers."""

    virtual = True

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), _CLOCK_FILE.size, access=mmap.ACCESS_READ)
        if self._map[:8] != _CLOCK_FILE_MAGIC:
            self._map.close()
            raise ValueError(f"{path} is not a clock file")

    def now(self) -> datetime:
        while True:
            _, before, micros = _CLOCK_FILE.unpack_from(self._map)
            after = _SEQUENCE.unpack_from(self._map, 8)[0]
            if before == after and not before & 1:
                return _EPOCH + timedelta(microseconds=micros)
            time.sleep(0)  # the writer is between its two stores: let it finish


_CLOCK_FILE_MAGIC = b"cspclk01"
_CLOCK_FILE = struct.Struct("<8sQq")
_SEQUENCE = struct.Struct("<Q")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HttpClock:
    """The time another process keeps, read over HTTP: devhost's virtual clock in a
    simulation (`GET <url>` answers `{"now": "<ISO 8601>"}`). When the answer also names a
    clock file this process can map (`"file"`, a host on the same machine), every later
    reading comes from the file (`MappedClock`), a memory read instead of a request.

    Over HTTP, calls that come in while a reading is being fetched share it, and a call never
    gets a reading fetched before it began: a virtual clock jumps the moment its host is
    idle, and what then runs must not be dated before the jump. `now()` blocks: async code
    calls it through `asyncio.to_thread`, never on the event loop that may be serving the
    clock."""

    virtual = True

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = TRUST_ENVIRONMENT  # proxies read once (shared/proxies.py)
        self._mapped: MappedClock | None = None
        # The last reading over HTTP and the monotonic time its fetch began.
        self._cached: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        mapped = self._mapped
        if mapped is not None:
            return mapped.now()
        began = time.monotonic()
        with self._lock:
            if self._mapped is not None:
                return self._mapped.now()
            if self._cached is not None and self._cached[0] > began:
                return self._cached[1]
            fetch_began = time.monotonic()
            try:
                reply = self._session.get(self._url, timeout=self._timeout_s)
                reply.raise_for_status()
                answer = reply.json()
                now = datetime.fromisoformat(answer["now"])
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                raise TransientError(f"the clock at {self._url} did not answer: {exc}") from exc
            _require_aware(now)
            self._mapped = _mapped(answer.get("file"))
            self._cached = (fetch_began, now.astimezone(UTC))
            return self._cached[1]


def _mapped(path: object) -> MappedClock | None:
    """The clock file the host named, if this process can map it (a host elsewhere names a
    path that is not here, or not a clock file: keep to HTTP)."""
    if not isinstance(path, str):
        return None
    try:
        return MappedClock(path)
    except (OSError, ValueError):
        return None


def app_clock(settings: Settings) -> Clock:
    """The clock triggers and activities read: the system's, or a simulation's when
    `clock_url` is set (devhost's virtual clock)."""
    if settings.clock_url is None:
        return SystemClock()
    return _http_clock(str(settings.clock_url))


@lru_cache(maxsize=4)
def _http_clock(url: str) -> HttpClock:
    return HttpClock(url)  # one per URL: one session, one mapping
