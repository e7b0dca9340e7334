"""Changing a workflow that is running (docs/architecture.md): an instance started on 1.0
finishes on 1.0's sequence of calls after 2.0 is deployed, a new instance runs 2.0's; the
same change made without the version guard silently gives the running instance a step its
version never had (nothing fails: neither devhost nor the Durable extension can tell).

Each "deployment" is a devhost engine on the same SQLite state, loading the app folder of
that version (tests/workflows/versioning/v1, v2, v2_unguarded), as the Functions host loads
new code after a deploy while the task hub's state stays."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from devhost.app import load_app
from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.status import RuntimeStatus

APPS = Path(__file__).parent / "versioning"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CUSTOMER = {"customer_id": "c-1"}


@contextmanager
def deployed(version: str, db: Path) -> Iterator[DurableEngine]:
    engine = DurableEngine(load_app(APPS / version), db, clock=VirtualClock(T0))
    engine.start()
    try:
        yield engine
    finally:
        engine.close()


def wait_until_waiting(engine: DurableEngine, instance_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = engine.get_status(instance_id)
        if status is not None and status.custom_status == {"state": "waiting"}:
            return
        time.sleep(0.02)
    raise AssertionError(f"{instance_id} never reached its wait: {engine.get_status(instance_id)}")


def start_on_v1(db: Path) -> None:
    with deployed("v1", db) as v1:
        v1.start_new("activate", "old", CUSTOMER)
        wait_until_waiting(v1, "old")


def test_an_instance_started_on_1_0_finishes_on_1_0_after_2_0_is_deployed(tmp_path):
    db = tmp_path / "hub.db"
    start_on_v1(db)
    with deployed("v2", db) as v2:
        v2.start_new("activate", "new", CUSTOMER)
        wait_until_waiting(v2, "new")
        v2.raise_event("old", "activated")
        v2.raise_event("new", "activated")
        old = v2.wait_for_completion("old", 20)
        new = v2.wait_for_completion("new", 20)
    assert (old.runtime_status, old.output) == (RuntimeStatus.Completed, ["welcome", "recorded"])
    assert (new.runtime_status, new.output) == (
        RuntimeStatus.Completed,
        ["welcome", "mailbox", "recorded"],
    )


def test_the_same_change_without_the_guard_silently_changes_the_running_instance(tmp_path):
    db = tmp_path / "hub.db"
    start_on_v1(db)
    with deployed("v2_unguarded", db) as v2:
        v2.raise_event("old", "activated")
        old = v2.wait_for_completion("old", 20)
    # A 1.0 customer got a mailbox 1.0 never promised: were it a charge, a double charge.
    assert (old.runtime_status, old.output) == (
        RuntimeStatus.Completed,
        ["welcome", "mailbox", "recorded"],
    )
