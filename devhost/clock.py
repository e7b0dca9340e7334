"""The host's clocks: real by default, virtual on request.

Both implement `Clock` (any object with a UTC-aware `now()`, the same shape as cspflow's
`shared.clock.Clock`) plus a small scheduling surface that every in-process
component (the Durable engine, timer triggers, sandboxes served from the same process) uses
instead of `time.sleep`, so one virtual clock can drive them all:

- `sleep_until(when, wake)`: block until the clock reads `when` or the `wake` event is set.
- `add_wakeup(when)` / `remove_wakeup(token)`: announce "I have something due at `when`"
  (a timer trigger's next occurrence, a sandbox's scheduled webhook). The virtual clock never
  jumps past a registered wake-up.
- `hold()` / `release(token)`: "I am busy right now" (work in progress outside the engine);
  a virtual clock does not jump while anything is held.
- `add_probe(probe)` / `remove_probe(token)`: "ask me before you jump" for work that waits
  somewhere a hold cannot cover (a message on a storage queue that its poller has not fetched
  yet): a virtual clock calls each probe, outside its lock, before jumping, and stays put
  while one answers True (the prober starts on that work at once).
- `idle(next_due)`: the engine calls this when it has nothing runnable. A real clock just
  reports False (the caller sleeps); a virtual clock jumps to the earliest of `next_due` and
  the registered wake-ups (when nothing is held) and wakes every sleeper.

A virtual clock only moves forward, and only by jumping when the whole process is idle, so
"months of orchestration time in seconds" does not change the order in which things happen.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from devhost.clock_file import ClockFile

# devhost imports nothing from the app it serves: an app folder may well have its own
# top-level `shared` package (a common layout for Functions apps), and it must be the one
# the app's `import shared...` finds.

__all__ = ["Clock", "HostClock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """A source of UTC-aware time. A clock may say whether it is `virtual` (moves only when
    told); one that does not is treated as virtual by pollers, the safe reading."""

    def now(self) -> datetime: ...


# Longest real sleep between re-checks, so a sleeper notices a missed wake-up promptly.
_MAX_REAL_SLEEP = 1.0


class HostClock(ABC):
    """Common scheduling surface; `RealClock` and `VirtualClock` differ in how time moves."""

    virtual = False

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._wakeups: dict[int, datetime] = {}
        self._holds: set[int] = set()
        self._probes: dict[int, Callable[[], bool]] = {}
        self._tokens = itertools.count(1)

    @abstractmethod
    def now(self) -> datetime: ...

    def add_wakeup(self, when: datetime) -> int:
        """Register a future due time; returns a token for `remove_wakeup`."""
        _require_aware(when)
        with self._cond:
            token = next(self._tokens)
            self._wakeups[token] = when
            self._cond.notify_all()
            return token

    def remove_wakeup(self, token: int) -> None:
        with self._cond:
            self._wakeups.pop(token, None)
            self._cond.notify_all()

    def hold(self) -> int:
        """Mark work in progress: a virtual clock will not jump until `release(token)`."""
        with self._cond:
            token = next(self._tokens)
            self._holds.add(token)
            return token

    def release(self, token: int) -> None:
        with self._cond:
            self._holds.discard(token)
            self._cond.notify_all()

    def add_probe(self, probe: Callable[[], bool]) -> int:
        """Register "is work waiting that would run now?"; returns a token for
        `remove_probe`. A probe may block briefly (it is called without the clock's lock)."""
        with self._cond:
            token = next(self._tokens)
            self._probes[token] = probe
            return token

    def remove_probe(self, token: int) -> None:
        with self._cond:
            self._probes.pop(token, None)

    def idle(self, next_due: datetime | None) -> bool:
        """Nothing runnable in the caller until `next_due`. True if time jumped."""
        return False

    @abstractmethod
    def sleep_until(self, when: datetime, wake: threading.Event | None = None) -> None:
        """Block until `when` on this clock, or until `wake` is set."""


class RealClock(HostClock):
    """Wall-clock time (UTC). `idle` never jumps; sleepers sleep for real."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_until(self, when: datetime, wake: threading.Event | None = None) -> None:
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0 or (wake is not None and wake.is_set()):
                return
            step = min(remaining, _MAX_REAL_SLEEP)
            if wake is not None:
                if wake.wait(step):
                    return
            else:
                threading.Event().wait(step)


class VirtualClock(HostClock):
    """Simulated time: moves only by `set`/`advance` or by jumping when everyone is idle."""

    virtual = True

    def __init__(self, start: datetime | None = None, *, publish: Path | None = None) -> None:
        """`publish`: also keep the reading in this file for other processes
        (devhost/clock_file.py)."""
        super().__init__()
        start = start or datetime.now(UTC)
        _require_aware(start)
        self._now = start
        self._file = ClockFile(publish) if publish is not None else None
        self._publish()

    @property
    def file_path(self) -> Path | None:
        """Where the reading is published, if it is."""
        return self._file.path if self._file is not None else None

    def _publish(self) -> None:
        # Under self._cond (or before the clock is shared): the file has one writer.
        if self._file is not None:
            self._file.write(self._now)

    def now(self) -> datetime:
        with self._cond:
            return self._now

    def set(self, when: datetime) -> None:
        _require_aware(when)
        with self._cond:
            if when < self._now:
                raise ValueError(f"clock cannot go back from {self._now} to {when}")
            self._now = when
            self._publish()
            self._cond.notify_all()

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("clock cannot go back")
        with self._cond:
            self._now += delta
            self._publish()
            self._cond.notify_all()
            return self._now

    def next_wakeup(self) -> datetime | None:
        with self._cond:
            return min(self._wakeups.values(), default=None)

    def idle(self, next_due: datetime | None) -> bool:
        with self._cond:
            if self._jump_target(next_due) is None:
                return False
            probes = list(self._probes.values())
        # Outside the lock: a probe may wait on an event loop whose tasks take holds.
        if any(probe() for probe in probes):
            return False
        with self._cond:
            target = self._jump_target(next_due)  # again: work may have started meanwhile
            if target is None:
                return False
            self._now = target
            self._publish()
            self._cond.notify_all()
            return True

    def _jump_target(self, next_due: datetime | None) -> datetime | None:
        """Where an idle clock would jump to now (under self._cond), or None: held, nothing
        to jump to, or something registered already due (its owner has to run first)."""
        if self._holds:
            return None
        candidates = list(self._wakeups.values())
        if next_due is not None:
            candidates.append(next_due)
        if not candidates:
            return None
        target = min(candidates)
        return target if target > self._now else None

    def sleep_until(self, when: datetime, wake: threading.Event | None = None) -> None:
        with self._cond:
            while self._now < when and not (wake is not None and wake.is_set()):
                # Short real waits: `wake` is a plain Event that cannot notify this condition.
                self._cond.wait(0.05 if wake is not None else _MAX_REAL_SLEEP)


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("clock times must be timezone-aware (UTC)")
