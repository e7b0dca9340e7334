"""The book sync's triggers as units: the start (one run at a time, a finished one started
again, a lost race joined), the status resource of a run, the nightly schedule, with an
injected clock and an in-memory Durable client (the route runs on devhost in
tests/workflows/test_book_sync_on_devhost.py and through the whole stack in tests/e2e)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from shared.config import BOOK_SYNC_SCHEDULE
from shared.models.book_sync import BookSyncReport, Ids
from triggers.book_sync import (
    new_run_id,
    nightly,
    nightly_schedule,
    start_book_sync,
    view_book_sync,
)

NIGHT = datetime(2026, 11, 2, 2, 0, 0, 500, tzinfo=UTC)
RUN = "20261102T020000Z-abcd"


@dataclass
class DurableClient:
    """The client calls the triggers make, over one instance's status."""

    status: Status | None = None
    input: Any = None
    custom_status: Any = None
    output: Any = None
    started: list[tuple[str, str, Any]] = field(default_factory=list)
    start_error: Exception | None = None
    status_after_error: Status | None = None

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        assert instance_id == "book-sync" and show_input
        return SimpleNamespace(
            runtime_status=self.status,
            input_=self.input,
            custom_status=self.custom_status,
            output=self.output,
        )

    async def start_new(self, name: str, instance_id: str, input_: Any) -> str:
        if self.start_error is not None:
            self.status, self.input = self.status_after_error, {"run_id": "20261102T015959Z-0001"}
            raise self.start_error
        self.started.append((name, instance_id, input_))
        self.status, self.input = Status.Pending, input_
        return instance_id


def start(client: DurableClient) -> Any:
    return asyncio.run(start_book_sync(client, NIGHT, suffix="abcd"))


def test_a_start_with_nothing_running_starts_a_run_on_the_singleton_instance():
    client = DurableClient()
    started = start(client)
    assert (started.run_id, started.started, started.state) == (RUN, True, "running")
    assert client.started == [("book_sync", "book-sync", {
        "run_id": RUN, "started_at": None, "tuning": {"page_size": 100, "batch_size": 25,
        "max_in_flight": 20}, "page": 0, "customers": None, "after": None,
        "totals": client.started[0][2]["totals"]})]  # fmt: skip


@pytest.mark.parametrize(
    "status", [Status.Pending, Status.Running, Status.ContinuedAsNew, Status.Suspended]
)
def test_a_second_start_while_a_run_goes_on_joins_it(status):
    client = DurableClient(status=status, input={"run_id": "20261101T020000Z-0042"})
    started = start(client)
    assert (started.run_id, started.started) == ("20261101T020000Z-0042", False)
    assert client.started == []


def test_the_input_may_come_back_as_its_json_text():
    client = DurableClient(status=Status.Running, input='{"run_id": "20261101T020000Z-0042"}')
    assert start(client).run_id == "20261101T020000Z-0042"


@pytest.mark.parametrize(
    "status", [Status.Completed, Status.Failed, Status.Terminated, Status.Canceled]
)
def test_a_run_that_ended_is_followed_by_a_new_one(status):
    client = DurableClient(status=status, input={"run_id": "20261101T020000Z-0042"})
    assert start(client).run_id == RUN
    assert len(client.started) == 1


def test_losing_the_start_race_joins_the_winners_run():
    client = DurableClient(start_error=RuntimeError("exists"), status_after_error=Status.Running)
    started = start(client)
    assert (started.run_id, started.started) == ("20261102T015959Z-0001", False)


def test_a_start_that_fails_with_no_run_behind_it_is_a_real_failure():
    client = DurableClient(start_error=RuntimeError("storage down"), status_after_error=None)
    with pytest.raises(RuntimeError, match="storage down"):
        start(client)


def test_run_ids_are_the_start_to_the_second_and_four_hex_digits():
    assert new_run_id(NIGHT, "0f0f") == "20261102T020000Z-0f0f"
    made = {new_run_id(NIGHT) for _ in range(20)}
    assert all(len(r) == len(RUN) and r.startswith("20261102T020000Z-") for r in made)
    assert len(made) > 1


def test_the_timer_starts_or_joins_the_same_way():
    client = DurableClient(status=Status.Running, input={"run_id": RUN})
    assert asyncio.run(nightly(client, NIGHT)).started is False
    idle = DurableClient()
    assert asyncio.run(nightly(idle, NIGHT)).started is True


REPORT = BookSyncReport(
    run_id=RUN,
    started_at=NIGHT,
    finished_at=NIGHT,
    complete=True,
    pages=1,
    partner_center_customers=2,
    adopted=Ids.of(["c-1"]),
    updated=Ids(),
    unchanged=Ids.of(["c-2"]),
)


def view(client: DurableClient, run_id: str = RUN, stored: Any = None) -> Any:
    book = SimpleNamespace(book_syncs=SimpleNamespace(find=lambda rid: stored))
    return asyncio.run(view_book_sync(client, run_id, book))  # type: ignore[arg-type]


def test_a_run_going_on_shows_its_progress():
    progress = {"run_id": RUN, "state": "syncing", "pages": 3, "customers": 300, "failed": 1}
    seen = view(DurableClient(Status.Running, {"run_id": RUN}, progress))
    assert (seen.state, seen.progress.customers, seen.report) == ("running", 300, None)
    assert view(DurableClient(Status.Pending, {"run_id": RUN}, "starting")).progress is None


def test_a_completed_run_shows_its_report_and_a_failed_one_its_reason():
    done = view(
        DurableClient(Status.Completed, {"run_id": RUN}, None, REPORT.model_dump(mode="json"))
    )
    assert (done.state, done.report) == ("completed", REPORT)
    failed = view(DurableClient(Status.Failed, {"run_id": RUN}, None, "boom"))
    assert (failed.state, failed.error, failed.report) == ("failed", "boom", None)
    assert view(DurableClient(Status.Terminated, {"run_id": RUN})).state == "terminated"


def test_an_earlier_run_is_read_from_the_book_and_an_unknown_one_is_none():
    later = DurableClient(Status.Running, {"run_id": "20261103T020000Z-0001"})
    stored = SimpleNamespace(record=REPORT)
    seen = view(later, RUN, stored)
    assert (seen.state, seen.report) == ("completed", REPORT)
    assert view(later, RUN, None) is None
    assert view(later, "not-a-run", stored) is None


@pytest.mark.parametrize(
    ("value", "schedule"),
    [
        (None, BOOK_SYNC_SCHEDULE),
        ("", BOOK_SYNC_SCHEDULE),
        ("off", "off"),
        ("0 30 1 * * *", "0 30 1 * * *"),
        ("0 0 2 * *", BOOK_SYNC_SCHEDULE),  # five fields: not the timer's format
    ],
)
def test_the_nightly_schedule_is_the_setting_or_two_in_the_morning(value, schedule):
    environ = {} if value is None else {"CSPFLOW_BOOK_SYNC_SCHEDULE": value}
    assert nightly_schedule(environ) == schedule
    assert BOOK_SYNC_SCHEDULE == "0 0 2 * * *"
