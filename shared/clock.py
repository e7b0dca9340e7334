"""Clocks: the one notion of "now" that sandboxes, timer triggers and activities share.

Orchestrators never use these (they read `context.current_utc_datetime`). Everything else
that needs the time takes a `Clock`, so the local host can run months of virtual time in
seconds and every component sees the same instant.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import requests

from shared.errors import TransientError

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


# How long HttpClock reuses a reading: a process that moves the clock waits this long before
# it counts on the app's triggers and activities seeing the new time.
HTTP_CLOCK_CACHE_S = 0.05


class HttpClock:
    """The time another process keeps, read over HTTP: devhost's virtual clock in a
    simulation (`GET <url>` answers `{"now": "<ISO 8601>"}`). A reading is reused for
    `cache_s`, so a burst of reads costs one request. `now()` blocks: async code calls it
    through `asyncio.to_thread`, never on the event loop that may be serving the clock."""

    virtual = True

    def __init__(
        self, url: str, cache_s: float = HTTP_CLOCK_CACHE_S, timeout_s: float = 5.0
    ) -> None:
        self._url = url
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._cached: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        with self._lock:
            mono = time.monotonic()
            if self._cached is not None and mono - self._cached[0] < self._cache_s:
                return self._cached[1]
            try:
                reply = requests.get(self._url, timeout=self._timeout_s)
                reply.raise_for_status()
                now = datetime.fromisoformat(reply.json()["now"])
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                raise TransientError(f"the clock at {self._url} did not answer: {exc}") from exc
            _require_aware(now)
            self._cached = (mono, now.astimezone(UTC))
            return self._cached[1]


def app_clock(settings: Settings) -> Clock:
    """The clock triggers and activities read: the system's, or a simulation's when
    `clock_url` is set (devhost's virtual clock)."""
    if settings.clock_url is None:
        return SystemClock()
    return _http_clock(str(settings.clock_url))


@lru_cache(maxsize=4)
def _http_clock(url: str) -> HttpClock:
    return HttpClock(url)  # one per URL, so its cached reading is shared
