"""The virtual clock's reading published in a memory-mapped file (devhost/clock_file.py):
every move of the clock is in the file at once, and a restarted host keeps readers' mappings
live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devhost.clock import VirtualClock
from devhost.clock_file import LAYOUT, MAGIC, ClockFile
from shared.clock import MappedClock

T0 = datetime(2027, 5, 3, 8, 15, 30, 123456, tzinfo=UTC)


def test_every_move_of_a_published_virtual_clock_is_in_the_file_at_once(tmp_path):
    clock = VirtualClock(T0, publish=tmp_path / "clock")
    reader = MappedClock(str(tmp_path / "clock"))
    assert reader.now() == T0
    clock.advance(timedelta(minutes=5))
    assert reader.now() == T0 + timedelta(minutes=5)
    clock.set(T0 + timedelta(days=30))
    assert reader.now() == T0 + timedelta(days=30)
    assert clock.idle(T0 + timedelta(days=31))  # nothing held: it jumps to what is due
    assert reader.now() == T0 + timedelta(days=31)


def test_a_reading_is_left_whole_with_an_even_sequence_number(tmp_path):
    published = ClockFile(tmp_path / "clock")
    for n in range(3):
        published.write(T0 + timedelta(seconds=n))
    magic, sequence, _ = LAYOUT.unpack((tmp_path / "clock").read_bytes())
    assert magic == MAGIC
    assert sequence == 6


def test_a_restarted_host_rewrites_the_file_in_place_so_readers_follow_it(tmp_path):
    path = tmp_path / "clock"
    VirtualClock(T0, publish=path)
    reader = MappedClock(str(path))
    inode = path.stat().st_ino
    restarted = VirtualClock(T0 + timedelta(hours=1), publish=path)
    assert path.stat().st_ino == inode
    assert reader.now() == T0 + timedelta(hours=1)
    restarted.advance(timedelta(hours=1))
    assert reader.now() == T0 + timedelta(hours=2)


def test_a_clock_without_a_file_publishes_nothing(tmp_path):
    clock = VirtualClock(T0)
    assert clock.file_path is None
    assert list(tmp_path.iterdir()) == []
