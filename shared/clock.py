"""Clocks: the one notion of "now" that sandboxes, timer triggers and activities share.

Orchestrators never use these (they read `context.current_utc_datetime`). Everything else
that needs the time takes a `Clock`, so the local host can run months of virtual time in
seconds and every component sees the same instant.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


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
