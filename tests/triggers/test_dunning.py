"""The dunning routes as functions (the worker's callables, triggers/dunning.py) on a real
book in Azurite: the open cases paged, one case with its attempts, history and next step, a
closed case still readable but absent from the open list, and a 404 naming `invoice_id` for
any id that is not a case's (docs/api.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings
from shared.models.dunning import DunningNextStep
from shared.models.intake import PendingWorkflowEvent
from tests.app_functions import user_function
from tests.devhost.azurite_fixture import azurite_service
from tests.orchestrator_driver import T0
from tests.shared.book.records import dunning_case
from triggers.dunning import start_parked_cases

__all__ = ["azurite_service"]


@pytest.fixture
def book(azurite: Azurite, configure: Callable[..., Settings]) -> Book:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"d{uuid.uuid4().hex[:16]}",
    )
    return Book(settings)


def get(name: str, url: str, params: dict[str, str] | None = None, **route: str) -> tuple[int, Any]:
    request = func.HttpRequest("GET", url, body=b"", route_params=route, params=params or {})
    response = user_function(name)(request)
    return response.status_code, json.loads(response.get_body())


def test_open_cases_are_listed_in_pages_and_a_closed_one_is_not(book: Book):
    for n in range(3):
        book.dunning.open(dunning_case(f"inv-{n}", customer_id="c-1"))
    book.dunning.open(
        dunning_case(
            "inv-closed",
            status="written_off",
            closed_at=T0 + timedelta(days=60),
            case={**dunning_case("inv-closed").case.model_dump(), "written_off": True},
        )
    )
    status, first = get("list_dunning_cases", "http://127.0.0.1/api/dunning", {"limit": "2"})
    assert status == 200, first
    assert [c["invoice_id"] for c in first["items"]] == ["inv-0", "inv-1"]
    status, rest = get(
        "list_dunning_cases",
        "http://127.0.0.1/api/dunning",
        {"limit": "2", "next": first["next"]},
    )
    assert [c["invoice_id"] for c in rest["items"]] == ["inv-2"] and rest["next"] is None
    status, closed = get(
        "get_dunning_case", "http://127.0.0.1/api/dunning/inv-closed", invoice_id="inv-closed"
    )
    assert (status, closed["status"], closed["next_step"]) == (200, "written_off", None)


def test_one_case_shows_its_attempts_with_their_class_and_the_next_step_with_its_date(book: Book):
    step = DunningNextStep(action="retry_charge", at=T0 + timedelta(days=1), reason="retry")
    book.dunning.open(dunning_case("inv-7", next_step=step.model_dump()))
    status, body = get("get_dunning_case", "http://127.0.0.1/api/dunning/inv-7", invoice_id="inv-7")
    assert status == 200, body
    assert body["status"] == "open" and body["customer_id"] == "c-1"
    [attempt] = body["attempts"]
    assert (attempt["decline_code"], attempt["decline_class"]) == ("insufficient_funds", "soft")
    assert body["next_step"]["action"] == "retry_charge"
    assert body["next_step"]["at"].startswith("2026-11-03T09:00:00")


@pytest.mark.parametrize("invoice_id", ["inv-none", "x" * 65, "in v", "ä"])
def test_an_id_that_is_no_case_is_a_404_naming_invoice_id(book: Book, invoice_id: str):
    status, body = get(
        "get_dunning_case", f"http://127.0.0.1/api/dunning/{invoice_id}", invoice_id=invoice_id
    )
    assert status == 404 and body["errors"][0]["field"] == "invoice_id", body


def test_a_state_other_than_open_is_refused_naming_it(book: Book):
    status, body = get("list_dunning_cases", "http://127.0.0.1/api/dunning", {"state": "closed"})
    assert status == 400 and "state" in json.dumps(body), body


# -- starts kept in the WorkflowInbox before dunning was deployed (docs/intake.md) -------------


@dataclass
class Orchestrator:
    """The Durable client as intake uses it: a start happens once per instance id."""

    instances: dict[str, Any] = field(default_factory=dict)

    async def start(self, name: str, instance_id: str, data: Any) -> bool:
        if instance_id in self.instances:
            return False
        self.instances[instance_id] = (name, data)
        return True

    async def signal(self, instance_id: str, event: str, data: Any) -> bool:
        raise AssertionError("kept signals are not raised")


def kept(workflow: str, instance_id: str, action: str = "start", key: str = "evt_1") -> Any:
    return PendingWorkflowEvent.model_validate(
        {
            "workflow": workflow,
            "instance_id": instance_id,
            "action": action,
            "event": "start" if action == "start" else "invoice_paid",
            "event_key": key,
            "source": "stripe",
            "payload": {
                "stripe_invoice_id": instance_id.removeprefix("dunning-"),
                "stripe_customer_id": "cus_1",
                "event_key": key,
            },
            "recorded_at": T0.isoformat(),
        }
    )


def test_a_case_start_kept_before_dunning_was_deployed_is_started_once(book: Book):
    inbox = book.workflow_inbox
    inbox.record(kept("dunning", "dunning-in_kept", key="evt_failed"))
    inbox.record(kept("dunning", "dunning-in_kept", action="signal", key="evt_paid"))
    inbox.record(kept("dunning", "dunning-in_opened", key="evt_other"))
    inbox.record(kept("renewal", "renewal-sub-1-20261231", key="evt_renewal"))
    book.dunning.open(dunning_case("in_opened"))  # its case opened meanwhile
    durable = Orchestrator()

    started = asyncio.run(start_parked_cases(book, durable))

    assert started == ["dunning-in_kept"]
    name, payload = durable.instances["dunning-in_kept"]
    assert name == "dunning"
    assert payload["stripe_invoice_id"] == "in_kept" and payload["event_key"] == "evt_failed"
    # The next day's run finds it started: nothing more.
    assert asyncio.run(start_parked_cases(book, durable)) == []
    assert list(durable.instances) == ["dunning-in_kept"]
