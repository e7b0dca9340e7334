"""DTFx history events as the Durable extension serializes them (PascalCase, integer types).

Events are plain dicts so they serialize straight into the orchestrator context JSON and
into SQLite; these helpers only build them with the fields the SDK and the status API read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


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


def fmt_time(when: datetime) -> str:
    """The SDK's wire format for timestamps and `fireAt`: `%Y-%m-%dT%H:%M:%S.%fZ`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
