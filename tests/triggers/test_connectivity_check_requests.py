"""POST /api/ops/connectivity-checks as a unit: the trigger's body with an injected clock and
an in-memory Durable client (test_ops.py beside it runs the same route on devhost with the
real client)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from shared.clock import ManualClock
from triggers.ops import start_check

NOON = datetime(2026, 11, 2, 12, 0, 30, tzinfo=UTC)


@dataclass
class DurableClient:
    """The two client calls `start_check` makes, over a dict of instance id -> status."""

    statuses: dict[str, Status | None] = field(default_factory=dict)
    started: list[tuple[str, str]] = field(default_factory=list)
    start_error: Exception | None = None
    status_after_error: Status | None = None

    async def get_status(self, instance_id: str) -> Any:
        return SimpleNamespace(runtime_status=self.statuses.get(instance_id))

    async def start_new(self, name: str, instance_id: str, client_input: Any = None) -> str:
        if self.start_error is not None:
            self.statuses[instance_id] = self.status_after_error
            raise self.start_error
        self.started.append((name, instance_id))
        self.statuses[instance_id] = Status.Pending
        return instance_id


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON)


def post(client: DurableClient, clock: ManualClock) -> str:
    """The instance the route's handler answers with the status links of."""
    return asyncio.run(start_check(client, clock.now()))


def test_a_post_starts_the_check_of_the_current_utc_minute(clock):
    client = DurableClient()
    assert post(client, clock) == "connectivity-check-20261102T1200"
    assert client.started == [("connectivity_check", "connectivity-check-20261102T1200")]


@pytest.mark.parametrize("status", [Status.Pending, Status.Running, Status.Completed])
def test_a_second_post_in_the_same_minute_starts_nothing_new(clock, status):
    client = DurableClient(statuses={"connectivity-check-20261102T1200": status})
    assert post(client, clock) == "connectivity-check-20261102T1200"
    assert client.started == []


@pytest.mark.parametrize("status", [Status.Failed, Status.Terminated, Status.Canceled])
def test_a_check_of_this_minute_that_ended_badly_is_started_again(clock, status):
    client = DurableClient(statuses={"connectivity-check-20261102T1200": status})
    post(client, clock)
    assert client.started == [("connectivity_check", "connectivity-check-20261102T1200")]


def test_the_next_minute_gets_a_new_check(clock):
    client = DurableClient(statuses={"connectivity-check-20261102T1200": Status.Completed})
    clock.advance(NOON.replace(minute=1) - NOON)
    post(client, clock)
    assert client.started == [("connectivity_check", "connectivity-check-20261102T1201")]


def test_losing_the_start_race_to_a_concurrent_post_is_the_collapse_working(clock):
    client = DurableClient(
        start_error=RuntimeError("already exists"), status_after_error=Status.Running
    )
    assert post(client, clock) == "connectivity-check-20261102T1200"


def test_a_start_that_fails_with_no_instance_behind_it_is_a_real_failure(clock):
    client = DurableClient(start_error=RuntimeError("storage down"), status_after_error=None)
    with pytest.raises(RuntimeError, match="storage down"):
        post(client, clock)
