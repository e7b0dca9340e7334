"""devhost.speedups: memoized timestamp parsing gives the SDK exactly the same datetimes;
the heap freeze nests and is undone by the last thaw."""

from __future__ import annotations

import gc
import importlib

import pytest
from dateutil.parser import parse  # type: ignore[import-untyped]

from devhost.speedups import (
    freeze_heap,
    memoize_timestamp_parsing,
    restore_timestamp_parsing,
    thaw_heap,
)

MODULE = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")


@pytest.fixture(autouse=True)
def _stock_afterwards() -> object:
    yield None
    restore_timestamp_parsing()


@pytest.mark.parametrize(
    "text",
    ["2026-01-01T09:30:00.123456Z", "20260101T093000.123456Z", "2026-03-01T09:00:00Z"],
)
def test_memoized_parse_returns_the_same_instant_as_dateutil(text: str) -> None:
    memoize_timestamp_parsing()
    assert MODULE.dt_parse(text) == parse(text)
    assert MODULE.dt_parse(text) is MODULE.dt_parse(text)  # served from the cache


def test_memoizing_twice_wraps_once_and_restore_brings_back_dateutil() -> None:
    memoize_timestamp_parsing()
    wrapped = MODULE.dt_parse
    memoize_timestamp_parsing()
    assert MODULE.dt_parse is wrapped
    restore_timestamp_parsing()
    assert MODULE.dt_parse is parse


def test_the_sdk_builds_history_events_with_the_memoized_parser() -> None:
    from azure.durable_functions.models.history.HistoryEvent import HistoryEvent

    memoize_timestamp_parsing()
    event = HistoryEvent(EventType=12, EventId=-1, IsPlayed=False, Timestamp="20260101T093000.5Z")
    assert event.timestamp == parse("2026-01-01T09:30:00.5Z")


def test_the_heap_stays_frozen_until_the_last_thaw() -> None:
    assert gc.get_freeze_count() == 0  # no engine is running in this process
    freeze_heap()
    frozen = gc.get_freeze_count()
    freeze_heap()  # a second engine: nothing more to do
    assert frozen > 0
    assert gc.get_freeze_count() == frozen
    thaw_heap()
    assert gc.get_freeze_count() == frozen
    thaw_heap()
    assert gc.get_freeze_count() == 0
    thaw_heap()  # an unmatched thaw changes nothing
    assert gc.get_freeze_count() == 0
