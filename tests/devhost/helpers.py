"""Helpers for the engine tests: wait for states and check every history replays."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devhost.engine import DurableEngine
from devhost.history import EventType
from devhost.status import OrchestrationStatus

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def run(
    engine: DurableEngine, name: str, input: object = None, **kwargs: object
) -> OrchestrationStatus:
    """Start an instance, wait for it to finish and check that every instance the engine
    holds replays deterministically through the SDK."""
    instance_id = engine.start_new(name, input=input, **kwargs)  # type: ignore[arg-type]
    status = engine.wait_for_completion(instance_id, timeout=20)
    assert status.runtime_status.is_terminal, status
    assert_all_replay(engine)
    return status


def assert_all_replay(engine: DurableEngine) -> None:
    page, _ = engine.list_instances()
    for status in page:
        if engine.history(status.instance_id):
            engine.replay_check(status.instance_id)


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSON-lines file another process is appending to: a line
    still being written (no newline yet) is left for the next read, not parsed half-done."""
    if not path.exists():
        return []
    *complete, _partial = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in complete if line.strip()]


def event_types(engine: DurableEngine, instance_id: str) -> list[str]:
    return [
        EventType(ev["EventType"]).name
        for ev in engine.history(instance_id)
        if ev["EventType"] not in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted)
    ]
