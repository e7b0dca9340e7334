"""devhost.clock: the virtual clock jumps only when everyone is idle, never past a wake-up."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from devhost.clock import RealClock, VirtualClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_idle_jumps_to_the_next_due_time() -> None:
    clock = VirtualClock(T0)
    assert clock.idle(T0 + timedelta(days=3))
    assert clock.now() == T0 + timedelta(days=3)


def test_idle_does_not_skip_a_registered_wakeup() -> None:
    clock = VirtualClock(T0)
    token = clock.add_wakeup(T0 + timedelta(hours=1))
    assert clock.idle(T0 + timedelta(days=3))
    assert clock.now() == T0 + timedelta(hours=1)
    # The wake-up is due and its owner has not handled it: no further jump.
    assert not clock.idle(T0 + timedelta(days=3))
    clock.remove_wakeup(token)
    assert clock.idle(T0 + timedelta(days=3))
    assert clock.now() == T0 + timedelta(days=3)


def test_a_hold_stops_the_clock_from_jumping() -> None:
    clock = VirtualClock(T0)
    token = clock.hold()
    assert not clock.idle(T0 + timedelta(days=1))
    assert clock.now() == T0
    clock.release(token)
    assert clock.idle(T0 + timedelta(days=1))


def test_a_probe_that_finds_work_waiting_keeps_the_clock_until_it_finds_none() -> None:
    clock = VirtualClock(T0)
    waiting = [True]
    asked: list[datetime] = []

    def probe() -> bool:
        asked.append(clock.now())
        return waiting[0]

    token = clock.add_probe(probe)
    assert not clock.idle(T0 + timedelta(days=3))
    assert clock.now() == T0
    waiting[0] = False
    assert clock.idle(T0 + timedelta(days=3))
    assert asked == [T0, T0]  # asked before each jump, at the time it would jump from
    clock.remove_probe(token)
    waiting[0] = True
    assert clock.idle(T0 + timedelta(days=4))


def test_a_probe_is_asked_only_when_there_is_somewhere_to_jump_and_without_the_clocks_lock() -> (
    None
):
    clock = VirtualClock(T0)
    asked: list[bool] = []

    def probe() -> bool:
        # Another thread takes a hold while the probe runs (as a poller's invocation would):
        # possible only if the clock's lock is free; the clock then does not jump.
        holder = threading.Thread(target=clock.hold)
        holder.start()
        holder.join(timeout=5)
        asked.append(not holder.is_alive())
        return False

    clock.add_probe(probe)
    assert not clock.idle(None)  # nothing to jump to: nobody asked
    assert asked == []
    assert not clock.idle(T0 + timedelta(days=1))
    assert asked == [True] and clock.now() == T0


def test_idle_with_nothing_due_does_not_move() -> None:
    clock = VirtualClock(T0)
    assert not clock.idle(None)
    assert clock.now() == T0


def test_a_sleeper_wakes_when_the_clock_jumps() -> None:
    clock = VirtualClock(T0)
    woke = threading.Event()

    def sleeper() -> None:
        clock.sleep_until(T0 + timedelta(days=30))
        woke.set()

    # Daemon: a sleeper that never woke must not hold the test process open at exit.
    thread = threading.Thread(target=sleeper, daemon=True)
    thread.start()
    clock.idle(T0 + timedelta(days=30))
    thread.join(30)
    assert woke.is_set()


def test_virtual_time_never_goes_back() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(timedelta(seconds=-1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(T0).add_wakeup(datetime(2026, 1, 2))


def test_the_real_clock_never_jumps() -> None:
    clock = RealClock()
    before = clock.now()
    assert not clock.idle(before + timedelta(days=1))
    assert clock.now() - before < timedelta(minutes=1)
    wake = threading.Event()
    wake.set()
    clock.sleep_until(before + timedelta(days=1), wake)  # returns at once: woken
