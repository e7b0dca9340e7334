"""Ids become keys Azure Tables accepts and give them back; time keys sort as time does."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.book import InvalidKey
from shared.book.keys import day_key, instant_key, key, month_key, unkey


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("c-1", "c-1"),  # the usual ids stay readable
        ("CFQ7TTC0LH18:0001:CFQ7TTC0K971", "CFQ7TTC0LH18:0001:CFQ7TTC0K971"),
        ("a/b\\c#d?e", "a%2Fb%5Cc%23d%3Fe"),  # the four characters keys may not hold
        ("100%", "100%25"),  # the escape character itself
        ("tab\there", "tab%09here"),  # control characters
    ],
)
def test_ids_become_keys_without_forbidden_characters(value, expected):
    assert key(value) == expected
    assert unkey(key(value)) == value


@given(st.text(max_size=200))
def test_property_every_id_round_trips_and_its_key_is_allowed(value):
    made = key(value)
    assert unkey(made) == value
    assert not set(made) & set("/\\#?")
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in made)


def test_an_id_over_1_kib_once_escaped_is_refused():
    with pytest.raises(InvalidKey, match="over Azure Tables' 1 KiB"):
        key("/" * 200)  # 600 characters escaped: 1,200 bytes in UTF-16


def test_time_keys_are_utc_and_fixed_width_so_they_sort_as_time():
    paris = timezone(timedelta(hours=1))
    late_evening = datetime(2026, 3, 1, 23, 30, tzinfo=paris)
    assert day_key(late_evening) == "2026-03-01"  # 22:30 UTC
    assert day_key(datetime(2026, 3, 1, 0, 30, tzinfo=paris)) == "2026-02-28"
    assert month_key(date(2026, 3, 31)) == "2026-03"
    assert instant_key(late_evening) == "2026-03-01T22:30:00.000000Z"
    instants = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=n**5) for n in range(30)]
    assert sorted(instant_key(i) for i in instants) == [instant_key(i) for i in sorted(instants)]
    # Early years are padded too, so a key of year 999 sorts before one of year 2026.
    assert instant_key(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        day_key(datetime(2026, 3, 1))
