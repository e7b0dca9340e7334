"""The SLA clock's activities against the book in a real Azurite: a second start is the same
clock, signals and wakes are applied once, an alert reaches the ops queue once per event, a
closed clock records its outcome, and an owner's signal reaches the signal queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from azure.storage.queue import QueueServiceClient

from activities.sla_clocks import (
    apply_sla_signal,
    open_sla_clock,
    signal_sla_clock,
    wake_sla_clock,
)
from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings, get_settings
from shared.storage import OPS_QUEUE, SLA_SIGNALS_QUEUE, trigger_queue
from tests.sandbox.mail.harness import Inbox
from tests.shared.book.records import customer

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Berlin
BERLIN = {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"}


@pytest.fixture
def settings(configure, azurite: Azurite) -> Settings:
    settings: Settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"t{uuid4().hex[:20]}",
    )
    return settings


@pytest.fixture
def book(settings: Settings) -> Book:
    book = Book(settings)
    book.customers.add(customer("c-1", sla_tier="premium", calendar=BERLIN))
    return book


@pytest.fixture
def queues(settings: Settings, azurite: Azurite) -> QueueServiceClient:
    """The two queues, empty (Azurite is shared by the worker's tests)."""
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    existing = {q.name for q in service.list_queues()}
    for name in (OPS_QUEUE, SLA_SIGNALS_QUEUE):
        queue = service.get_queue_client(name)
        if name in existing:
            queue.clear_messages()
        else:
            queue.create_queue()
    return service


def start(**overrides: Any) -> dict[str, Any]:
    signal = {
        "action": "start",
        "kind": "onboarding",
        "subject_id": "order-1",
        "customer_id": "c-1",
        "at": START.isoformat(),
    } | overrides
    return {"step_key": "sla-onboarding-order-1/open", "signal": signal}


def value(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    result: dict[str, Any] = envelope["value"]
    return result


def test_a_clock_opens_on_the_customers_tier_and_calendar_and_a_second_start_is_the_same(book):
    first = value(open_sla_clock.run(start()))
    again = value(open_sla_clock.run(start(at=(START + timedelta(hours=1)).isoformat())))
    assert first == again
    assert (first["at_risk_at"], first["deadline"]) == (
        "2026-11-03T12:00:00Z",
        "2026-11-03T13:00:00Z",
    )
    assert first["next_wake"] == {"at": "2026-11-03T12:00:00Z", "reason": "at_risk", "role": None}


def test_a_clock_for_a_customer_not_in_the_book_is_refused(book):
    envelope = open_sla_clock.run(start(customer_id="c-unknown"))
    assert (envelope["ok"], envelope["failure"]["error_type"]) == (False, "RecordNotFound")


def test_a_wake_alerts_ops_once_and_a_repeat_changes_nothing(book, settings, queues):
    value(open_sla_clock.run(start()))
    wake = {
        "step_key": "sla-onboarding-order-1/wake-1",
        "kind": "onboarding",
        "subject_id": "order-1",
        "wake": {"at": "2026-11-03T12:00:00Z", "reason": "at_risk"},
    }
    after = value(wake_sla_clock.run(wake))
    again = value(wake_sla_clock.run(wake))
    assert after == again and after["next_wake"]["reason"] == "breach"
    messages = list(trigger_queue(settings, OPS_QUEUE).receive_messages())
    assert [json.loads(m.content)["type"] for m in messages] == ["sla_at_risk"]
    assert json.loads(messages[0].content)["clock_id"] == "sla-onboarding-order-1"
    clock = book.sla_clocks.get("onboarding", "order-1").record
    assert [h.event for h in clock.history] == ["started", "at_risk"]


def test_signals_pause_resume_and_met_close_the_clock_and_record_its_outcome_once(book):
    value(open_sla_clock.run(start()))

    def signal(action: str, at: datetime, n: int) -> dict[str, Any]:
        return {
            "step_key": f"sla-onboarding-order-1/signal-{n}",
            "signal": {
                "action": action,
                "kind": "onboarding",
                "subject_id": "order-1",
                "at": at.isoformat(),
            },
        }

    paused = value(apply_sla_signal.run(signal("pause", START + timedelta(hours=1), 1)))
    assert (paused["phase"], paused["next_wake"]) == ("paused", None)
    resumed = value(apply_sla_signal.run(signal("resume", START + timedelta(days=1), 2)))
    assert resumed["deadline"] == "2026-11-04T12:00:00Z"  # 3 business hours after 10:00
    met = value(apply_sla_signal.run(signal("met", START + timedelta(days=1, hours=1), 3)))
    value(apply_sla_signal.run(signal("met", START + timedelta(days=2), 4)))
    assert met["phase"] == "closed"
    events = book.kpi_events.of_month(START, "sla_outcome").items
    assert [(e.outcome, e.subject_id) for e in events] == [("met", "onboarding:order-1")]
    timeline = [e.summary for e in book.timeline.page("c-1").items]
    assert any("paused" in line for line in timeline) and any("met" in line for line in timeline)


def test_an_owner_signal_goes_to_the_signal_queue(settings, queues):
    request = {
        "step_key": "order-9/sla-met",
        "signal": {
            "action": "met",
            "kind": "onboarding",
            "subject_id": "order-9",
            "at": START.isoformat(),
        },
    }
    queued = value(signal_sla_clock.run(request))
    assert queued == {"queue": SLA_SIGNALS_QUEUE, "clock_id": "sla-onboarding-order-9"}
    (message,) = trigger_queue(settings, SLA_SIGNALS_QUEUE).receive_messages()
    assert json.loads(message.content)["action"] == "met"


def test_an_at_risk_clock_mails_the_partners_ops_once(notify_env, mail):
    book = Book(get_settings())
    book.customers.add(customer("c-1", sla_tier="premium", calendar=BERLIN))
    value(open_sla_clock.run(start()))
    wake = {
        "step_key": "sla-onboarding-order-1/wake-1",
        "kind": "onboarding",
        "subject_id": "order-1",
        "wake": {"at": "2026-11-03T12:00:00Z", "reason": "at_risk"},
    }
    value(wake_sla_clock.run(wake))
    value(wake_sla_clock.run(wake))  # a retried step: nothing more is mailed
    mails = Inbox(mail.base_url).messages(to="ops@contoso-cloud.example")
    ours = [m for m in mails if m["subject"] == "SLA at risk: onboarding for Contoso Ltd (order-1)"]
    assert len(ours) == 1 and ours[0]["duplicate_of"] is None
