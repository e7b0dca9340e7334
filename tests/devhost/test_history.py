"""devhost.history: the context text derived from the stored event JSON (`PlayedChunk`) is
the one `context_events` builds; `encode_event` writes what `json.dumps` writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devhost.history import (
    Event,
    EventType,
    PlayedChunk,
    context_events,
    encode_event,
    event,
    fmt_time,
    orchestrator_completed,
    orchestrator_started,
)

WHEN = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


def _episode() -> list[Event]:
    later = WHEN + timedelta(seconds=2)
    return [
        orchestrator_started(WHEN),
        event(
            EventType.ExecutionStarted,
            WHEN,
            Name="chain",
            Version="",
            # A payload that itself holds a "Timestamp" of the same instant and IsPlayed.
            Input={"Timestamp": fmt_time(WHEN), "IsPlayed": True, "note": '"Timestamp": "x"'},
        ),
        event(EventType.TaskScheduled, WHEN, 0, Name="step", Version="", Input="1"),
        event(EventType.TaskCompleted, later, TaskScheduledId=0, Result='"Timestamp"'),
        event(EventType.EventRaised, later, Name="approval", Input='{"ok": true}'),
        orchestrator_completed(later),
    ]


@pytest.mark.parametrize("played", [True, False])
@pytest.mark.parametrize("compact", [True, False])
def test_context_text_from_stored_json_is_what_context_events_builds(
    compact: bool, played: bool
) -> None:
    chunk = PlayedChunk().extend(_episode())
    assert chunk.stored() == ",".join(json.dumps({**e, "IsPlayed": True}) for e in _episode())
    derived = chunk.context(played=played, compact=compact)
    assert derived == context_events(_episode(), played=played, compact=compact)


def test_compact_context_keeps_payload_timestamps_untouched() -> None:
    derived = json.loads(
        "[" + PlayedChunk().extend(_episode()).context(played=False, compact=True) + "]"
    )
    started = next(e for e in derived if e["EventType"] == EventType.ExecutionStarted)
    assert started["Timestamp"] == "20260301T093000.123456Z"
    assert started["IsPlayed"] is False
    assert started["Input"]["Timestamp"] == "2026-03-01T09:30:00.123456Z"
    assert started["Input"]["IsPlayed"] is True
    assert [e["EventType"] for e in derived] == [12, 0, 5, 15]  # TaskScheduled etc. dropped


@pytest.mark.parametrize(
    "value",
    [
        {"EventType": 5, "EventId": -1, "IsPlayed": True, "Result": '"Hello Tokyo!"'},
        {"Input": {"nested": [1, 2.5, None, True, "caf\u00e9 \U0001f600"], "big": 10**30}},
        [float("nan"), float("inf"), -float("inf"), 1e-7, 0.1],
        "plain",
        {1: "int key", None: "null key", 2.5: "float key"},
    ],
)
def test_encode_event_writes_the_same_text_as_json_dumps(value: object) -> None:
    assert encode_event(value) == json.dumps(value)


def test_encode_event_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_event({"when": WHEN})
