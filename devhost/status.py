"""The orchestration status payload (the Durable extension's `StatusResponsePayload`) and its
history view."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from devhost.history import Event, EventType


class RuntimeStatus(StrEnum):
    """`OrchestrationRuntimeStatus` names, as the status API spells them."""

    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Canceled = "Canceled"
    Terminated = "Terminated"
    Pending = "Pending"
    Suspended = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        RuntimeStatus.Completed,
        RuntimeStatus.Failed,
        RuntimeStatus.Terminated,
        RuntimeStatus.Canceled,
    }
)


def status_time(when: datetime) -> str:
    """`yyyy-MM-ddTHH:mm:ssZ`, no fraction, as the extension formats status times."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_json_value(text: str | None) -> Any:
    """`ParseToJToken`: JSON text to a value, falling back to the raw string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


@dataclass(frozen=True)
class OrchestrationStatus:
    """One instance's status; `to_json()` is the extension's payload, key for key."""

    name: str
    instance_id: str
    runtime_status: RuntimeStatus
    input: Any
    custom_status: Any
    output: Any
    created_time: datetime
    last_updated_time: datetime
    history_events: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": status_time(self.created_time),
            "lastUpdatedTime": status_time(self.last_updated_time),
        }
        if self.history_events is not None:
            payload["historyEvents"] = self.history_events
        return payload


_SCHEDULED_BY_COMPLETION = {
    EventType.TaskCompleted: EventType.TaskScheduled,
    EventType.TaskFailed: EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCompleted: EventType.SubOrchestrationInstanceCreated,
    EventType.SubOrchestrationInstanceFailed: EventType.SubOrchestrationInstanceCreated,
}


def history_view(
    events: list[Event], *, show_input: bool, show_output: bool
) -> list[dict[str, Any]]:
    """`DurableClient.GetDurableOrchestrationStatusAsync` with showHistory: names for types,
    no EventId/IsPlayed, completions merged with their scheduled event, which is dropped,
    OrchestratorStarted/Completed dropped, `Result` only with showHistoryOutput."""
    scheduled: dict[tuple[EventType, int], Event] = {}
    for ev in events:
        kind = EventType(ev["EventType"])
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(kind, ev["EventId"])] = ev
    merged_away: set[int] = set()
    view: list[tuple[int, dict[str, Any]]] = []
    for ev in events:
        kind = EventType(ev["EventType"])
        if kind in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            continue
        item: dict[str, Any] = {"EventType": kind.name}
        for key, value in ev.items():
            if key in ("EventType", "EventId", "IsPlayed"):
                continue
            if key == "Result" and not show_output:
                continue
            if key == "Input" and not show_input and kind != EventType.EventRaised:
                continue
            item[key] = value
        if kind == EventType.ExecutionStarted and "Name" in item:
            item["FunctionName"] = item.pop("Name")
        source_kind = _SCHEDULED_BY_COMPLETION.get(kind)
        if source_kind is not None:
            source = scheduled.get((source_kind, ev.get("TaskScheduledId", -1)))
            if source is not None:
                merged_away.add(id(source))
                item["FunctionName"] = source.get("Name")
                item["ScheduledTime"] = source.get("Timestamp")
                if show_input:
                    item["Input"] = source.get("Input")
        view.append((id(ev), item))
    return [item for key, item in view if key not in merged_away]
