"""Keys: how ids, days and instants become PartitionKey / RowKey values.

Azure Tables refuses `/`, `\\`, `#`, `?` and control characters in keys and limits each key
to 1 KiB (https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model).
`key()` percent-escapes exactly those characters (and `%` itself), so any id round-trips
(`unkey`) and ids made of the usual letters, digits, `-`, `_`, `.` and `:` stay readable.

Time keys are fixed-width UTC strings, so their string order is their time order: a range
of days or months is a range of keys.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import unquote

from shared.book.errors import InvalidKey

MAX_KEY_BYTES = 1024  # UTF-16, as the service counts

_ESCAPED = frozenset("/\\#?%") | frozenset(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])


def key(value: str) -> str:
    """`value` as a PartitionKey or RowKey: forbidden characters percent-escaped."""
    escaped = "".join(
        "".join(f"%{b:02X}" for b in ch.encode()) if ch in _ESCAPED else ch for ch in value
    )
    if len(escaped.encode("utf-16-le")) > MAX_KEY_BYTES:
        raise InvalidKey(f"key {value[:60]!r}... is over Azure Tables' 1 KiB once escaped")
    return escaped


def unkey(value: str) -> str:
    """The id a `key()` was made from."""
    return unquote(value)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("key times must be timezone-aware")
    return when.astimezone(UTC)


def day_key(when: datetime | date) -> str:
    """`2026-03-01`: the UTC day of an instant (or a calendar day as it is)."""
    day = _utc(when).date() if isinstance(when, datetime) else when
    return day.isoformat()


def month_key(when: datetime | date) -> str:
    """`2026-03`: the UTC month of an instant (or of a calendar day)."""
    return day_key(when)[:7]


def instant_key(when: datetime) -> str:
    """`2026-03-01T09:30:00.000000Z`: fixed width, so string order is time order."""
    # Formatted by hand: strftime's %Y does not pad years before 1000 on every platform.
    utc = _utc(when)
    return f"{utc.year:04d}-{utc.strftime('%m-%dT%H:%M:%S.%f')}Z"
