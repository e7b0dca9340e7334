from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import Clock, ManualClock, SystemClock

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def test_system_clock_is_utc_aware():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(T0)
    assert clock.now() == T0
    assert clock.advance(timedelta(days=1)) == T0 + timedelta(days=1)
    clock.set(T0 + timedelta(days=2))
    assert clock.now() == T0 + timedelta(days=2)


def test_manual_clock_never_goes_back():
    clock = ManualClock(T0)
    with pytest.raises(ValueError, match="back"):
        clock.set(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="back"):
        clock.advance(timedelta(seconds=-1))


def test_manual_clock_refuses_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))


@pytest.mark.parametrize("clock", [SystemClock(), ManualClock(T0)])
def test_both_clocks_satisfy_the_protocol(clock):
    assert isinstance(clock, Clock)
