"""Timer triggers: NCRONTAB schedules on a virtual clock, run_on_startup, past_due."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devhost.clock import VirtualClock
from devhost.listeners.ncrontab import Schedule, ScheduleError
from devhost.listeners.timer import ClockSleeper, StatusStore, TimerTrigger
from shared.clock import ManualClock

START = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)  # a Monday


# Examples from Microsoft Learn, "Timer trigger for Azure Functions", NCRONTAB examples.
@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", START, START + timedelta(minutes=5)),
        ("0 0 * * * *", START, START + timedelta(hours=1)),
        ("0 0 */2 * * *", START, START + timedelta(hours=2)),
        ("0 0 9-17 * * *", START, START.replace(hour=9)),
        ("0 30 9 * * *", START, START.replace(hour=9, minute=30)),
        ("0 30 9 * * 1-5", START.replace(hour=10), START.replace(day=6, hour=9, minute=30)),
        ("0 30 9 * Jan Mon", START.replace(hour=10), START.replace(day=12, hour=9, minute=30)),
        ("*/15 * * * * *", START, START + timedelta(seconds=15)),
        # NCrontab's CrontabSchedule.GetNextOccurrence: day-of-month AND day-of-week must both
        # match (not cron's OR), so this is the first Monday of the month.
        ("0 0 9 1-7 * Mon", START.replace(day=6), datetime(2026, 2, 2, 9, tzinfo=UTC)),
        ("0 0 9 13 * Fri", START, datetime(2026, 2, 13, 9, tzinfo=UTC)),
        ("00:10:00", START, START + timedelta(minutes=10)),  # TimeSpan form
    ],
)
def test_ncrontab_next_occurrence_reads_seconds_first(expression, after, expected):
    assert Schedule(expression).next_after(after) == expected


@pytest.mark.parametrize("expression", ["*/5 * * * *", "0 0 * * * * *", "0 61 * * * *", "nope"])
def test_schedules_functions_would_refuse_are_refused(expression):
    with pytest.raises(ScheduleError):
        Schedule(expression)


def _timer_fn(
    schedule: str, seen: list[Any], run_on_startup: bool = False, fail: bool = False
) -> func.Function:
    app = func.FunctionApp()

    @app.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=run_on_startup)
    def sweep(timer: func.TimerRequest) -> None:
        seen.append(timer)
        if fail:
            raise RuntimeError("sweep failed")

    (fn,) = app.get_functions()
    return fn


async def _invoke(fn: func.Function, request: func.TimerRequest) -> None:
    fn.get_user_function()(request)


async def _run(
    fn: func.Function, clock: ManualClock, store: StatusStore, until: Callable[[], bool]
) -> TimerTrigger:
    trigger = TimerTrigger(fn, clock, ClockSleeper(clock, poll_s=0.005), store, _invoke)
    task = asyncio.create_task(trigger.run())
    try:
        async with asyncio.timeout(10):
            while not until():
                await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return trigger


def test_a_timer_fires_at_each_occurrence_of_virtual_time(tmp_path):
    clock = ManualClock(START)
    seen: list[Any] = []
    fn = _timer_fn("0 */5 * * * *", seen)

    async def scenario() -> None:
        trigger = TimerTrigger(
            fn, clock, ClockSleeper(clock, poll_s=0.005), StatusStore(tmp_path), _invoke
        )
        task = asyncio.create_task(trigger.run())
        await asyncio.sleep(0.05)
        assert seen == []  # nothing due yet, no run_on_startup
        for n in (1, 2, 3):
            clock.advance(timedelta(minutes=5))
            async with asyncio.timeout(5):
                while len(seen) < n:
                    await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [t.past_due for t in seen] == [False, False, False]
    # As in WebJobs, the status a run sees is the one recorded before it: the previous
    # occurrence as Last and this one as Next.
    status = seen[-1].schedule_status
    assert datetime.fromisoformat(status["Last"]) == START + timedelta(minutes=10)
    assert datetime.fromisoformat(status["Next"]) == START + timedelta(minutes=15)
    assert seen[-1].schedule == {"AdjustForDST": True}


def test_run_on_startup_fires_at_once_without_past_due(tmp_path):
    clock = ManualClock(START)
    seen: list[Any] = []
    asyncio.run(
        _run(
            _timer_fn("0 0 0 * * *", seen, run_on_startup=True),
            clock,
            StatusStore(tmp_path),
            lambda: bool(seen),
        )
    )
    assert len(seen) == 1
    assert seen[0].past_due is False


def test_an_occurrence_missed_while_the_host_was_down_fires_past_due_on_restart(tmp_path):
    clock = ManualClock(START)
    store = StatusStore(tmp_path)
    seen: list[Any] = []
    fn = _timer_fn("0 0 9 * * *", seen)
    # First run records the schedule (next 09:00) and stops without firing.
    asyncio.run(_run(fn, clock, store, lambda: store.load("sweep") is not None))
    assert seen == []
    assert store.load("sweep").next == START.replace(hour=9)  # type: ignore[union-attr]
    # The host is down over 09:00 and comes back at 11:00.
    clock.set(START.replace(hour=11))
    asyncio.run(_run(fn, clock, store, lambda: bool(seen)))
    assert len(seen) == 1
    assert seen[0].past_due is True
    assert datetime.fromisoformat(seen[0].schedule_status["Next"]) == START.replace(hour=9)
    after = store.load("sweep")
    assert after is not None
    assert after.last == START.replace(hour=9)
    assert after.next == START.replace(day=6, hour=9)


def test_a_host_that_was_never_run_before_is_not_past_due(tmp_path):
    clock = ManualClock(START.replace(hour=11))
    seen: list[Any] = []
    store = StatusStore(tmp_path)
    asyncio.run(
        _run(_timer_fn("0 0 9 * * *", seen), clock, store, lambda: store.load("sweep") is not None)
    )
    assert seen == []


def test_a_failing_run_keeps_the_schedule(tmp_path):
    clock = ManualClock(START)
    seen: list[Any] = []
    fn = _timer_fn("0 */1 * * * *", seen, fail=True)

    async def scenario() -> None:
        trigger = TimerTrigger(
            fn, clock, ClockSleeper(clock, poll_s=0.005), StatusStore(tmp_path), _invoke
        )
        task = asyncio.create_task(trigger.run())
        for n in (1, 2):
            await asyncio.sleep(0.02)
            clock.advance(timedelta(minutes=1))
            async with asyncio.timeout(5):
                while len(seen) < n:
                    await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert len(seen) == 2


def test_the_monitor_is_off_for_schedules_more_frequent_than_a_minute(tmp_path):
    clock = ManualClock(START)
    fast = TimerTrigger(
        _timer_fn("*/10 * * * * *", []), clock, ClockSleeper(clock), StatusStore(tmp_path), _invoke
    )
    slow = TimerTrigger(
        _timer_fn("0 */1 * * * *", []), clock, ClockSleeper(clock), StatusStore(tmp_path), _invoke
    )
    assert (fast.use_monitor, slow.use_monitor) == (False, True)


def test_the_sleeper_registers_its_wake_up_and_holds_the_clock_until_released():
    clock = VirtualClock(START)
    sleeper = ClockSleeper(clock, poll_s=0.005)
    due = START + timedelta(hours=1)

    async def scenario() -> None:
        waiter = asyncio.create_task(sleeper.sleep_until(due))
        await asyncio.sleep(0.02)
        assert not waiter.done()
        assert clock.next_wakeup() == due
        # The host is idle: the virtual clock jumps to the timer's occurrence, not beyond.
        assert clock.idle(None) is True
        assert clock.now() == due
        async with asyncio.timeout(5):
            release = await waiter
        assert clock.next_wakeup() is None
        # Held while the timer function runs: an idle host does not move the clock.
        clock.add_wakeup(due + timedelta(days=1))
        assert clock.idle(None) is False
        release()
        assert clock.idle(None) is True

    asyncio.run(scenario())
