"""The billing run's triggers as units: a start (joined while running, run again by hand,
never again by the timer), the status resource, the billing day in the partner's time zone,
the schedule; with an in-memory Durable client (the route runs through the whole stack in
tests/e2e/test_billing_run.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from shared.config import Settings
from triggers.billing import (
    DEFAULT_SCHEDULE,
    billing_day_at,
    billing_schedule,
    on_timer,
    start_billing_run,
    view_billing_run,
)

SETTINGS = Settings(partner_country="NL", partner_time_zone="Europe/Amsterdam")


@dataclass
class DurableClient:
    status: Status | None = None
    output: Any = None
    started: list[tuple[str, str, Any]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> Any:
        self.asked.append(instance_id)
        return SimpleNamespace(
            runtime_status=self.status, custom_status=None, output=self.output, input_=None
        )

    async def start_new(self, name: str, instance_id: str, input_: Any) -> str:
        self.started.append((name, instance_id, input_))
        self.status = Status.Pending
        return instance_id


def test_a_start_runs_the_period_and_day_on_its_own_instance_with_the_partner_settings():
    client = DurableClient()
    started = asyncio.run(start_billing_run(client, SETTINGS, "2027-03", 1))
    assert (started.run_id, started.started) == ("2027-03-d01", True)
    (name, instance, payload), = client.started  # fmt: skip
    assert (name, instance) == ("billing_run", "billing-run-2027-03-d01")
    assert (payload["partner_country"], payload["in_flight"], payload["page_size"]) == (
        "NL",
        10,
        100,
    )


def test_a_start_while_the_run_goes_on_joins_it():
    client = DurableClient(status=Status.Running)
    started = asyncio.run(start_billing_run(client, SETTINGS, "2027-03", 1))
    assert (started.started, started.state) == (False, "running") and client.started == []


def test_a_finished_run_runs_again_by_hand_but_never_by_the_timer():
    client = DurableClient(status=Status.Completed)
    again = asyncio.run(start_billing_run(client, SETTINGS, "2027-03", 1))
    assert again.started
    client = DurableClient(status=Status.Completed)
    timer = asyncio.run(start_billing_run(client, SETTINGS, "2027-03", 1, again=False))
    assert (timer.started, timer.state) == (False, "completed") and client.started == []


@pytest.mark.parametrize(
    ("now", "zone", "day"),
    [
        (datetime(2027, 2, 28, 23, 30, tzinfo=UTC), "Europe/Amsterdam", ("2027-03", 1)),
        (datetime(2027, 2, 28, 23, 30, tzinfo=UTC), "UTC", ("2027-02", 28)),
        (datetime(2027, 3, 1, 3, 0, tzinfo=UTC), "America/Los_Angeles", ("2027-02", 28)),
        (datetime(2027, 3, 30, 12, 0, tzinfo=UTC), "UTC", None),
    ],
)
def test_the_billing_day_is_the_date_in_the_partners_time_zone(now, zone, day):
    assert billing_day_at(now, zone) == day


def test_the_timer_starts_the_day_that_has_begun_once():
    client = DurableClient()
    started = asyncio.run(on_timer(client, SETTINGS, datetime(2027, 2, 28, 23, 5, tzinfo=UTC)))
    assert started is not None and started.run_id == "2027-03-d01"
    assert asyncio.run(on_timer(client, SETTINGS, datetime(2027, 3, 30, 12, tzinfo=UTC))) is None


def test_the_status_of_an_unknown_or_malformed_run_is_none():
    client = DurableClient()
    assert asyncio.run(view_billing_run(client, "2027-13-d01", book=None)) is None  # type: ignore[arg-type]
    assert asyncio.run(view_billing_run(client, "2027-03-d29", book=None)) is None  # type: ignore[arg-type]
    assert client.asked == []


def test_a_finished_run_shows_its_report():
    report = {
        "run_id": "2027-03-d01",
        "period": "2027-03",
        "billing_day": 1,
        "started_at": "2027-03-01T00:05:00Z",
        "finished_at": "2027-03-01T00:09:00Z",
        "complete": True,
        "pages": 1,
        "totals": {"customers": 3, "issued": 3},
    }
    client = DurableClient(status=Status.Completed, output=report)
    view = asyncio.run(view_billing_run(client, "2027-03-d01", book=None))  # type: ignore[arg-type]
    assert view is not None and view.state == "completed"
    assert view.report is not None and view.report.totals.issued == 3
    assert client.asked == ["billing-run-2027-03-d01"]


@pytest.mark.parametrize(
    ("value", "schedule"),
    [
        ("", DEFAULT_SCHEDULE),
        ("off", "off"),
        ("0 0 1 * * *", "0 0 1 * * *"),
        ("nonsense", DEFAULT_SCHEDULE),
    ],
)
def test_the_schedule_is_the_setting_or_hourly(value, schedule):
    assert billing_schedule({"CSPFLOW_BILLING_SCHEDULE": value}) == schedule
