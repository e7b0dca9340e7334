"""Timer triggers: NCRONTAB schedules on the shared clock, with the schedule monitor.

Like the WebJobs TimerListener: the schedule status (`Last`, `Next`, `LastUpdated`) is kept
between runs (in Azure a blob under azure-webjobs-hosts; here a JSON file in the host's state
folder), so a host that was down when an occurrence was due fires once at startup with
`IsPastDue` true. `run_on_startup` fires once at startup too. Occurrences that come due while
the function is still running are skipped, never queued up, and a timer function never
overlaps itself. The monitor is on unless the schedule fires more often than once a minute
(`use_monitor` overrides).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func
from azure.functions import meta

from devhost.clock import Clock
from devhost.listeners.invoke import converter, name_of, trigger_of
from devhost.listeners.ncrontab import Schedule
from devhost.settings import resolve_refs

log = logging.getLogger("devhost.timer")


Release = Callable[[], None]


class Sleeper(Protocol):
    async def sleep_until(self, when: datetime) -> Release: ...


class ClockSleeper:
    """Waits on any Clock: real seconds for the system clock, short polls for a virtual one.

    On a host clock (devhost.clock) the wait is registered with `add_wakeup`, so a virtual
    clock that jumps ahead when the host is idle stops at the timer's occurrence, and the
    clock is held (`hold`) from the moment the wait ends until the caller releases it, so it
    cannot jump past the occurrence while the timer function runs.
    """

    def __init__(self, clock: Clock, poll_s: float | None = None) -> None:
        self._clock = clock
        virtual = getattr(clock, "virtual", True)
        self._poll_s = poll_s if poll_s is not None else (0.02 if virtual else 1.0)

    async def sleep_until(self, when: datetime) -> Release:
        clock: Any = self._clock
        add_wakeup = getattr(clock, "add_wakeup", None)
        token = add_wakeup(when) if add_wakeup is not None else None
        try:
            while (now := clock.now()) < when:
                await asyncio.sleep(min((when - now).total_seconds(), self._poll_s))
        except BaseException:
            if token is not None:
                clock.remove_wakeup(token)
            raise
        if token is None:
            return lambda: None
        held = clock.hold()  # before withdrawing the wake-up: no gap for a jump
        clock.remove_wakeup(token)
        return lambda: clock.release(held)


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime | None
    next: datetime
    last_updated: datetime

    def to_json(self) -> dict[str, str | None]:
        return {
            "Last": self.last.isoformat() if self.last else None,
            "Next": self.next.isoformat(),
            "LastUpdated": self.last_updated.isoformat(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ScheduleStatus:
        last = doc.get("Last")
        return cls(
            last=datetime.fromisoformat(last) if last else None,
            next=datetime.fromisoformat(doc["Next"]),
            last_updated=datetime.fromisoformat(doc["LastUpdated"]),
        )


class StatusStore:
    """One JSON file per timer function; written atomically so a kill never corrupts it."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, function_name: str) -> Path:
        return self._folder / f"{function_name}.status.json"

    def load(self, function_name: str) -> ScheduleStatus | None:
        path = self._path(function_name)
        try:
            return ScheduleStatus.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError):
            log.warning("timer status %s is unreadable; starting the schedule afresh", path)
            return None

    def save(self, function_name: str, status: ScheduleStatus) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._path(function_name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status.to_json()))
        os.replace(tmp, path)


def timer_request(past_due: bool, status: ScheduleStatus | None) -> func.TimerRequest:
    """The TimerRequest the worker builds from the host's JSON, through its own converter."""
    payload = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": status.to_json() if status else None,
        "IsPastDue": past_due,
    }
    request: func.TimerRequest = converter("timerTrigger").decode(
        meta.Datum(json.dumps(payload), "json"), trigger_metadata={}
    )
    return request


InvokeFn = Callable[[func.Function, func.TimerRequest], Awaitable[object]]


class TimerTrigger:
    """Runs one timer function for as long as the host lives."""

    def __init__(
        self,
        fn: func.Function,
        clock: Clock,
        sleeper: Sleeper,
        store: StatusStore,
        invoke: InvokeFn,
    ) -> None:
        trigger = trigger_of(fn)
        self.fn = fn
        self.name = name_of(fn)
        self.schedule = Schedule(
            resolve_refs(trigger.schedule, os.environ, f"timer {self.name!r} schedule")
        )
        self.run_on_startup = bool(getattr(trigger, "run_on_startup", False))
        use_monitor = getattr(trigger, "use_monitor", None)
        self._clock = clock
        if use_monitor is None:
            use_monitor = self.schedule.shortest_gap(clock.now()) >= timedelta(minutes=1)
        self.use_monitor = bool(use_monitor)
        self._sleeper = sleeper
        self._store = store
        self._invoke = invoke

    def next_occurrence(self) -> datetime:
        return self.schedule.next_after(self._clock.now())

    async def run(self) -> None:
        now = self._clock.now()
        status = self._store.load(self.name) if self.use_monitor else None
        past_due = status is not None and now > status.next
        if past_due and status is not None:
            log.info("timer %s is past due (was due %s)", self.name, status.next.isoformat())
        if past_due or self.run_on_startup:
            status = await self._fire(past_due, status, scheduled=status.next if status else now)
        else:
            status = self._record(last=status.last if status else None)
        while True:
            release = await self._sleeper.sleep_until(status.next)
            try:
                status = await self._fire(False, status, scheduled=status.next)
            finally:
                release()

    async def _fire(
        self, past_due: bool, status: ScheduleStatus | None, scheduled: datetime
    ) -> ScheduleStatus:
        try:
            await self._invoke(self.fn, timer_request(past_due, status))
        except Exception:
            # The host logs a failed timer run and keeps the schedule; there is no retry.
            log.exception("timer function %s failed", self.name)
        return self._record(last=scheduled)

    def _record(self, last: datetime | None) -> ScheduleStatus:
        now = self._clock.now()
        status = ScheduleStatus(last=last, next=self.schedule.next_after(now), last_updated=now)
        if self.use_monitor:
            self._store.save(self.name, status)
        return status
