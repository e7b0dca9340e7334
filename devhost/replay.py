"""Determinism check: replay a recorded history through the SDK, episode by episode.

For every episode of an execution's history, rebuild the context the orchestrator saw
(everything before the episode's decisions), call the orchestrator again, run the shim and
compare the decisions it makes with the ones recorded; for the last episode also compare
the outcome (output or failure). A mismatch means the orchestrator is not deterministic,
or the host recorded something the SDK would not reproduce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devhost.app import LoadedApp
from devhost.history import (
    DECISION_TYPES,
    Event,
    EventType,
    context_events,
    context_json,
    join_events,
    parse_time,
)
from devhost.shim import Shim

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


class ReplayMismatchError(AssertionError):
    """The replayed decisions or outcome differ from the recorded ones."""


@dataclass(frozen=True)
class ReplayReport:
    episodes: int
    decisions: int


def _decision_key(ev: Event) -> tuple[Any, ...]:
    kind = ev["EventType"]
    if kind == EventType.EventSent:
        payload = json.loads(ev["Input"])
        payload.pop("id", None)  # request ids are fresh GUIDs on a new decision
        return (kind, ev["EventId"], ev.get("InstanceId"), ev.get("Name"), payload)
    if kind == EventType.TimerCreated:
        return (kind, ev["EventId"], ev.get("FireAt"))
    return (kind, ev["EventId"], ev.get("Name"), ev.get("Input"), ev.get("InstanceId"))


def _is_decision(ev: Event) -> bool:
    return ev["EventType"] in DECISION_TYPES and ev["EventId"] >= 0


@dataclass(frozen=True)
class Episode:
    """One recorded episode: `chunk` is its slice of history (OrchestratorStarted to
    OrchestratorCompleted), `messages` the events it delivered to the orchestrator."""

    number: int
    start: int
    chunk: list[Event]
    messages: list[Event]


def episodes(history: list[Event]) -> list[Episode]:
    """The episodes of one stored execution, in order."""
    starts = [i for i, ev in enumerate(history) if ev["EventType"] == EventType.OrchestratorStarted]
    found = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(history)
        chunk = history[start:end]
        messages = [
            ev
            for ev in chunk
            if not _is_decision(ev)
            and ev["EventType"]
            not in (EventType.OrchestratorCompleted, EventType.ExecutionCompleted)
        ]
        found.append(Episode(number, start, chunk, messages))
    return found


def episode_context(
    history: list[Event],
    episode: Episode,
    *,
    input_json: str,
    instance_id: str,
    parent_instance_id: str | None,
    compact: bool = False,
) -> str:
    """The orchestrator context of `episode`: everything before it as played events, its
    messages as new ones (`compact` as in `devhost.history.context_events`)."""
    return context_json(
        join_events(
            context_events(history[: episode.start], played=True, compact=compact),
            context_events(episode.messages, played=False, compact=compact),
        ),
        input_json=input_json,
        instance_id=instance_id,
        parent_instance_id=parent_instance_id,
    )


def replay_history(
    app: LoadedApp,
    *,
    name: str,
    instance_id: str,
    input_json: str,
    history: list[Event],
    parent_instance_id: str | None = None,
) -> ReplayReport:
    """Replay `history` (one execution, as stored) and raise `ReplayMismatchError` on the
    first difference. Returns how many episodes and decisions were checked."""
    handle = app.orchestrators[name].user_function
    execution_id = history[1]["OrchestrationInstance"]["ExecutionId"] if len(history) > 1 else ""
    checked = decisions = 0
    for episode in episodes(history):
        number, start, chunk = episode.number, episode.start, episode.chunk
        if any(ev["EventType"] == EventType.ExecutionFailed for ev in chunk):
            break  # the host failed the instance without running it (version mismatch)
        recorded = [ev for ev in chunk if _is_decision(ev)]
        context = episode_context(
            history,
            episode,
            input_json=input_json,
            instance_id=instance_id,
            parent_instance_id=parent_instance_id,
        )
        try:
            reply = json.loads(handle(context))
            error = None
        except Exception as exc:
            text = str(exc)
            if OUT_OF_PROC_MARKER not in text:
                raise
            reply = json.loads(text.partition(OUT_OF_PROC_MARKER)[2])
            error = reply.get("error")
        actions = reply.get("actions") or [[]]
        shim = Shim(
            history[:start] + episode.messages,
            execution_id=execution_id,
            now=parse_time(chunk[0]["Timestamp"]),
        ).replay(actions[0])
        replayed = [_decision_key(ev) for ev in shim.new_decisions]
        expected = [_decision_key(ev) for ev in recorded]
        if error is None and replayed != expected:
            raise ReplayMismatchError(
                f"episode {number + 1} of {instance_id}: recorded decisions {expected}, "
                f"replay made {replayed}"
            )
        completed = [ev for ev in chunk if ev["EventType"] == EventType.ExecutionCompleted]
        finished = completed and completed[0].get("OrchestrationStatus") == "Completed"
        if finished and (
            not reply.get("isDone") or json.dumps(reply.get("output")) != completed[0]["Result"]
        ):
            raise ReplayMismatchError(
                f"episode {number + 1} of {instance_id}: recorded output "
                f"{completed[0]['Result']}, replay gave {reply!r:.300}"
            )
        checked += 1
        decisions += len(recorded)
    return ReplayReport(checked, decisions)
