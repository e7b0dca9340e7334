"""SLA clocks from the outside: the signal queue's consumer (with an in-memory Durable
client) and the routes, called as the host calls them, on a book in a real Azurite."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import azure.functions as func
import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost.azurite import Azurite
from shared.book import Book
from shared.models.sla import SlaSignal
from shared.policy.sla import complete_clock, open_clock
from tests.app_functions import user_function
from tests.shared.book.records import customer
from triggers.sla import ClockNotStarted, deliver

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
BERLIN = {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"}


@dataclass
class Client:
    statuses: dict[str, Status | None] = field(default_factory=dict)
    started: list[tuple[str, str, Any]] = field(default_factory=list)
    raised: list[tuple[str, str, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> Any:
        return SimpleNamespace(runtime_status=self.statuses.get(instance_id))

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        self.started.append((name, instance_id, data))
        self.statuses[instance_id] = Status.Running
        return instance_id

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        self.raised.append((instance_id, name, data))


def signal(action: str, **extra: Any) -> SlaSignal:
    data = {"action": action, "kind": "onboarding", "subject_id": "order-1", "at": START}
    return SlaSignal.model_validate(data | extra)


def test_a_start_starts_the_clock_under_its_derived_id_once():
    client = Client()
    start = signal("start", customer_id="c-1")
    assert asyncio.run(deliver(client, start)) == "sla-onboarding-order-1"
    asyncio.run(deliver(client, start))
    assert [(name, i) for name, i, _ in client.started] == [("sla_clock", "sla-onboarding-order-1")]


def test_a_signal_is_raised_to_a_running_clock_and_dropped_for_one_that_ended():
    client = Client(statuses={"sla-onboarding-order-1": Status.Running})
    asyncio.run(deliver(client, signal("met")))
    client.statuses["sla-onboarding-order-1"] = Status.Completed
    asyncio.run(deliver(client, signal("met")))
    assert [(i, name, data["action"]) for i, name, data in client.raised] == [
        ("sla-onboarding-order-1", "sla", "met")
    ]


def test_a_signal_before_its_clock_started_is_retried_by_the_queue():
    with pytest.raises(ClockNotStarted):
        asyncio.run(deliver(Client(), signal("pause")))


@pytest.fixture
def book(configure, azurite: Azurite) -> Book:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"t{uuid4().hex[:20]}",
        CSPFLOW_CLOCK_URL=None,
    )
    book = Book(settings)
    book.customers.add(customer("c-1", sla_tier="premium", calendar=BERLIN))
    return book


def get(path: str, params: dict[str, str] | None = None, **route: str) -> func.HttpResponse:
    name = {"clock": "get_clock", "list": "list_clocks", "report": "customer_sla"}[path]
    request = func.HttpRequest(
        "GET",
        f"http://127.0.0.1:7071/api/{path}",
        body=b"",
        params=params or {},
        route_params=route,
    )
    response: func.HttpResponse = user_function(name)(request)
    return response


def test_a_clock_reads_with_its_history_and_an_unknown_one_is_a_404(book: Book):
    clock = open_clock("onboarding", book.customers.get("c-1").record, "order-1", START)
    book.sla_clocks.start(clock)
    answer = get("clock", clock_id="sla-onboarding-order-1")
    body = json.loads(answer.get_body())
    assert answer.status_code == 200
    assert (body["id"], body["phase"], body["deadline"]) == (
        "sla-onboarding-order-1",
        "running",
        "2026-11-03T13:00:00Z",
    )
    assert [h["event"] for h in body["history"]] == ["started"]
    missing = get("clock", clock_id="sla-onboarding-nope")
    assert missing.status_code == 404
    assert json.loads(missing.get_body())["errors"][0]["field"] == "clock_id"


def test_the_list_puts_the_least_business_time_left_first_and_filters_by_state(book: Book):
    cust = book.customers.get("c-1").record
    late = open_clock("onboarding", cust, "order-late", START - timedelta(days=3))
    soon = open_clock("onboarding", cust, "order-soon", START - timedelta(hours=3))
    book.sla_clocks.start(late)
    book.sla_clocks.start(soon)
    # The routes read the app's clock (here the system's): both clocks are long overdue.
    body = json.loads(get("list", {"within": "60d"}).get_body())
    assert [c["subject_id"] for c in body["items"]][:2] == ["order-late", "order-soon"]
    assert body["items"][0]["business_seconds_left"] < body["items"][1]["business_seconds_left"] < 0
    breached = json.loads(get("list", {"state": "breached", "within": "0h"}).get_body())
    assert {c["subject_id"] for c in breached["items"]} == {"order-late", "order-soon"}
    refused = get("list", {"within": "forever"})
    assert refused.status_code == 400


def test_the_customer_report_shows_compliance_and_breaches(book: Book):
    cust = book.customers.get("c-1").record
    kept = complete_clock(open_clock("onboarding", cust, "o-1", START), START + timedelta(hours=1))
    late = complete_clock(open_clock("onboarding", cust, "o-2", START), START + timedelta(days=1))
    for clock in (kept, late):
        book.sla_clocks.start(clock)
    body = json.loads(get("report", customer_id="c-1").get_body())
    assert body["compliance"] == [{"kind": "onboarding", "met": 1, "breached": 1, "rate": "0.5000"}]
    assert [b["subject_id"] for b in body["breaches"]] == ["o-2"]
    assert body["breaches"][0]["reason"] == "completed after the deadline"
    assert get("report", customer_id="nobody").status_code == 404
