"""Many SLA clocks on devhost's Durable engine with the app's real activities and the book in
a real Azurite, in virtual time, with the host stopped and started again in the middle: every
clock left alone turns at risk, breaches and escalates once each at its computed instants,
every kept promise closes as met, and the restart changes nothing.
docs/rules.md#sla-tier-targets, #sla-escalation."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from devhost.app import load_app
from devhost.azurite import Azurite
from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from shared.book import Book
from shared.config import get_settings
from shared.models.sla import SlaSignal, sla_instance_id
from shared.storage import OPS_QUEUE, trigger_queue
from tests.shared.book.records import customer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
CUSTOMERS = [
    ("c-premium", "premium", {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"}),
    ("c-standard", "standard", {"time_zone": "America/New_York", "country": "US"}),
    ("c-basic", "basic", {"time_zone": "Asia/Jerusalem", "country": "IL"}),
]
CLOCKS = 60  # mixed tiers and calendars; the e2e test and the table tests cover the rest


@pytest.fixture
def book(configure, azurite: Azurite) -> Book:
    settings = configure(
        AzureWebJobsStorage=azurite.connection_string,
        CSPFLOW_TABLE_PREFIX=f"r{uuid4().hex[:20]}",
        CSPFLOW_CLOCK_URL=None,
        CSPFLOW_NOTIFY_OPS_TO=None,
    )
    trigger_queue(settings, OPS_QUEUE).clear_messages()
    book = Book(settings)
    for customer_id, tier, calendar in CUSTOMERS:
        book.customers.add(customer(customer_id, sla_tier=tier, calendar=calendar))
    return book


def engine(db: Path, at: datetime) -> DurableEngine:
    running = DurableEngine(load_app(ROOT), db, clock=VirtualClock(at))
    running.start()
    return running


def histories(book: Book, subjects: list[str]) -> dict[str, list[str]]:
    return {
        s: [h.event for h in book.sla_clocks.get("onboarding", s).record.history]
        for s in subjects
        if book.sla_clocks.find("onboarding", s) is not None
    }


def wait(what: str, done, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.25)


def test_many_clocks_keep_their_instants_across_a_host_restart(book: Book, tmp_path: Path):
    db = tmp_path / "hub.db"
    subjects = [f"order-{n}" for n in range(CLOCKS)]
    kept = set(subjects[1::2])
    first = engine(db, T0)
    for n, subject in enumerate(subjects):
        customer_id = CUSTOMERS[n % len(CUSTOMERS)][0]
        start = SlaSignal(
            action="start", kind="onboarding", subject_id=subject, customer_id=customer_id, at=T0
        )
        first.start_new(
            "sla_clock", sla_instance_id("onboarding", subject), start.model_dump(mode="json")
        )
        if subject in kept:
            met = SlaSignal(
                action="met", kind="onboarding", subject_id=subject, at=T0 + timedelta(minutes=20)
            )
            first.raise_event(
                sla_instance_id("onboarding", subject), "sla", met.model_dump(mode="json")
            )
    # Stop the host once some clocks are past their at-risk moment, none anywhere near done.
    wait(
        "the first at-risk marks",
        lambda: sum("at_risk" in h for h in histories(book, subjects).values()) >= 5,
    )
    stopped_at = first.clock.now()
    first.close()

    second = engine(db, stopped_at)
    try:

        def settled() -> bool:
            found = histories(book, subjects)
            return len(found) == CLOCKS and all(
                (h[-1] == "met") if s in kept else h.count("escalated") == 3
                for s, h in found.items()
            )

        wait("every clock settling", settled)
    finally:
        second.close()

    for subject in subjects:
        clock = book.sla_clocks.get("onboarding", subject).record
        events = [(h.event, h.at) for h in clock.history]
        if subject in kept:
            assert (clock.phase, events[-1][0]) == ("closed", "met"), events
            continue
        assert [e for e, _ in events] == [
            "started",
            "at_risk",
            "breached",
            "escalated",
            "escalated",
            "escalated",
        ], subject
        assert events[1][1] == clock.at_risk_at and events[2][1] == clock.deadline
    # Five alerts per clock left alone (at risk, breached, three escalations), each once.
    alerts: Counter[str] = Counter()
    seen: set[str] = set()
    queue = trigger_queue(get_settings(), OPS_QUEUE)
    for message in queue.receive_messages(messages_per_page=32, visibility_timeout=300):
        alert = json.loads(message.content)
        alerts[alert["clock_id"]] += 1 if alert["id"] not in seen else 0
        seen.add(alert["id"])
    left = {sla_instance_id("onboarding", s) for s in subjects if s not in kept}
    assert {clock_id: n for clock_id, n in alerts.items() if clock_id in left} == dict.fromkeys(
        left, 5
    )
