"""The virtual clock's reading, published in a small memory-mapped file.

Every process of a local stack reads the virtual time: the app's triggers and activities
(shared/clock.py) and each sandbox (sandbox/common/clock.py), for every request they date.
Over HTTP (`GET /admin/clock`) each reading is a request to this host's event loop, which
shares one interpreter lock with the engine and the activity threads: under load a reading
took 20 to 60 ms, and the sandboxes' requests slowed with it. The file makes a reading a
memory read. `GET /admin/clock` names the file, so a reader on the same machine switches to
it and one that cannot open it keeps asking over HTTP.

Layout (24 bytes, little-endian): the magic `cspclk01`; a sequence number, odd while the
time is being written; the time in microseconds since the Unix epoch. The one writer (the
virtual clock, under its lock) bumps the sequence to odd, writes the time, bumps it to even;
a reader takes the time only between two equal even sequence numbers (a seqlock). The file
is rewritten in place, never replaced, so a restarted host keeps the readers' mappings live.
"""

from __future__ import annotations

import mmap
import os
import struct
from datetime import UTC, datetime
from pathlib import Path

MAGIC = b"cspclk01"
LAYOUT = struct.Struct("<8sQq")
_SEQUENCE = struct.Struct("<Q")
_MICROS = struct.Struct("<q")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClockFile:
    """The writer's side: `write(when)` publishes a reading. Not thread-safe on its own: the
    virtual clock calls it under its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != LAYOUT.size:
                os.ftruncate(fd, LAYOUT.size)
            self._map = mmap.mmap(fd, LAYOUT.size)
        finally:
            os.close(fd)
        sequence = _SEQUENCE.unpack_from(self._map, 8)[0] if self._map[:8] == MAGIC else 0
        self._sequence = sequence + (sequence & 1)  # even: a reading left whole
        self._map[:8] = MAGIC

    def write(self, when: datetime) -> None:
        delta = when - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        self._sequence += 1
        _SEQUENCE.pack_into(self._map, 8, self._sequence)
        _MICROS.pack_into(self._map, 16, micros)
        self._sequence += 1
        _SEQUENCE.pack_into(self._map, 8, self._sequence)

    def close(self) -> None:
        self._map.close()
