"""DTFx history events as the Durable extension serializes them (PascalCase, integer types).
DTFx is the Durable Task Framework, github.com/Azure/durabletask.

Events are plain dicts so they serialize straight into the orchestrator context JSON and
into SQLite; these helpers only build them with the fields the SDK and the status API read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from json import encoder as _json_encoder
from typing import Any

Event = dict[str, Any]


def _event_encoder() -> Callable[[Any], str]:
    """`json.dumps` with its default arguments, minus the per-call setup and the circular
    reference check: `json.dumps` builds a new C encoder for every call, which costs more
    than encoding a small event (~2.5 µs against ~1 µs measured), and the engine encodes
    every history event. For acyclic values only (events are built by the engine from JSON
    texts and strings); the output is byte-for-byte `json.dumps`'s."""
    make = getattr(_json_encoder, "c_make_encoder", None)  # private, untyped in typeshed
    if make is None:  # CPython without its C accelerator
        return json.dumps
    encode = make(
        None,  # markers: no circular check
        json.JSONEncoder().default,  # the same TypeError as json.dumps
        _json_encoder.encode_basestring_ascii,  # ensure_ascii=True
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


encode_event = _event_encoder()


class EventType(IntEnum):
    """`DTFx History/EventType.cs`, mirrored by the SDK's `HistoryEventType`."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


DECISION_TYPES = frozenset(
    {
        EventType.TaskScheduled,
        EventType.TimerCreated,
        EventType.SubOrchestrationInstanceCreated,
        EventType.EventSent,
    }
)


@functools.lru_cache(maxsize=256)
def fmt_time(when: datetime) -> str:
    """The SDK's wire format for timestamps and `fireAt`: `%Y-%m-%dT%H:%M:%S.%fZ`.

    Memoized: an episode stamps several events and the status with the same instant (equal
    datetimes in other zones are the same instant, so share the UTC text)."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    # isoformat writes the same text as that strftime pattern (for years 1000+), faster.
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def event(kind: EventType, when: datetime, event_id: int = -1, **fields: Any) -> Event:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": fmt_time(when),
        **fields,
    }


def orchestrator_started(when: datetime) -> Event:
    return event(EventType.OrchestratorStarted, when)


def orchestrator_completed(when: datetime) -> Event:
    return event(EventType.OrchestratorCompleted, when)


# The events `TaskOrchestrationExecutor.process_event` acts on (plus ExecutionStarted's
# Version, read by the context); the SDK skips every other type.
CONTEXT_TYPES = frozenset(
    {
        EventType.OrchestratorStarted,
        EventType.ExecutionStarted,
        EventType.TaskCompleted,
        EventType.TaskFailed,
        EventType.SubOrchestrationInstanceCompleted,
        EventType.SubOrchestrationInstanceFailed,
        EventType.TimerFired,
        EventType.EventRaised,
        EventType.EventSent,
    }
)


def basic_time(text: str) -> str:
    """`2026-01-01T09:30:00.123456Z` -> `20260101T093000.123456Z`: the same instant in
    ISO 8601 basic format."""
    return f"{text[0:4]}{text[5:7]}{text[8:10]}T{text[11:13]}{text[14:16]}{text[17:]}"


def context_events(events: list[Event], *, played: bool, compact: bool) -> str:
    """Events as comma-joined JSON for the orchestrator context's `history` array.

    `compact=False` sends them as the extension does. `compact=True` sends only the types
    the SDK reads (`CONTEXT_TYPES`) with basic-format timestamps: the SDK parses every
    event's `Timestamp` with dateutil, which is most of its replay cost, and both changes
    cut it without changing what the orchestrator sees (same events resolve the same tasks
    at the same instants). The stored history stays complete either way."""
    if not compact:
        return ",".join(encode_event({**e, "IsPlayed": played}) for e in events)
    return ",".join(
        encode_event({**e, "IsPlayed": played, "Timestamp": basic_time(e["Timestamp"])})
        for e in events
        if e["EventType"] in CONTEXT_TYPES
    )


@dataclass
class PlayedChunk:
    """Events appended to a history, marked played and each encoded once (`encode_event`):
    the same text goes to SQLite and, via `context`, into orchestrator contexts."""

    events: list[Event] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def extend(self, events: list[Event]) -> PlayedChunk:
        for ev in events:
            played = {**ev, "IsPlayed": True}
            self.events.append(played)
            self.texts.append(encode_event(played))
        return self

    def stored(self) -> str:
        return ",".join(self.texts)

    def context(self, *, played: bool, compact: bool) -> str:
        """`context_events(self.events, played=played, compact=compact)`, derived from the
        encoded text. Relies on every event starting with the header keys `event` writes
        (EventType, EventId, IsPlayed, Timestamp), so the first `"IsPlayed": ` and
        `"Timestamp": ` in its text are its own."""
        out = []
        for ev, text in zip(self.events, self.texts, strict=True):
            if compact:
                if ev["EventType"] not in CONTEXT_TYPES:
                    continue
                stamp = ev["Timestamp"]
                text = text.replace(
                    f'"Timestamp": "{stamp}"', f'"Timestamp": "{basic_time(stamp)}"', 1
                )
            if not played:
                text = text.replace('"IsPlayed": true', '"IsPlayed": false', 1)
            out.append(text)
        return ",".join(out)


# Azure Storage's timer limits, sent like the extension does so the SDK splits long timers
# (V3 schema, `LongTimerTask`): a timer more than 6 days out waits in 3-day hops.
MAX_SHORT_TIMER = "6.00:00:00"
LONG_TIMER_INTERVAL = "3.00:00:00"


def context_json(
    history: str,
    *,
    input_json: str,
    instance_id: str,
    parent_instance_id: str | None,
) -> str:
    """The orchestrator trigger's context (`OrchestrationContextToString`), `history` being
    comma-joined event JSON (see `context_events`) and `input_json` the input's JSON text."""
    return (
        f'{{"history":[{history}],"input":{input_json},"instanceId":{json.dumps(instance_id)},'
        f'"isReplaying":false,"parentInstanceId":{json.dumps(parent_instance_id)},'
        '"upperSchemaVersion":1,"upperSchemaVersionNew":2,'
        f'"maximumShortTimerDuration":"{MAX_SHORT_TIMER}",'
        f'"longRunningTimerIntervalDuration":"{LONG_TIMER_INTERVAL}"}}'
    )


def join_events(head: str, tail: str) -> str:
    """Join two comma-joined event lists."""
    return f"{head},{tail}" if head and tail else head or tail
