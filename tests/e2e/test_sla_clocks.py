"""SLA clocks on the whole local stack in virtual time: owners' signals on the queue start
clocks for customers on every tier, the clocks left alone turn at risk and breach at their
computed instants and escalate along the chain, those met in time close as met, and each
closed clock's outcome is a KPI event. docs/rules.md#sla-tier-targets, #sla-escalation."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.book import Book
from shared.models.sla import SlaSignal, sla_instance_id
from shared.storage import SLA_SIGNALS_QUEUE, trigger_queue
from tests.e2e.harness import LocalStack, Namespace
from tests.shared.book.records import customer

pytestmark = pytest.mark.e2e

CALENDARS = [
    ("premium", {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"}),
    ("standard", {"time_zone": "America/New_York", "country": "US", "subdivision": "NY"}),
    ("basic", {"time_zone": "Asia/Jerusalem", "country": "IL"}),
]
PER_CUSTOMER = 8  # clocks per customer: half left alone, half met within an hour


def put(stack: LocalStack, signal: SlaSignal) -> None:
    trigger_queue(stack.settings, SLA_SIGNALS_QUEUE).send_message(signal.model_dump_json())


def clock_of(stack: LocalStack, clock_id: str) -> dict[str, Any] | None:
    answer = stack.api("GET", f"/api/sla/clocks/{clock_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def wait_for(stack: LocalStack, what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def test_clocks_left_alone_breach_and_escalate_and_kept_promises_close_as_met(
    stack: LocalStack, ns: Namespace
):
    book = Book(stack.settings)
    start = stack.now()
    met_ids, left_ids = [], []
    for tier, calendar in CALENDARS:
        cust = customer(ns.id(tier), sla_tier=tier, calendar=calendar)
        book.customers.add(cust)
        for n in range(PER_CUSTOMER):
            subject = ns.id(f"{tier}-order-{n}")
            put(
                stack,
                SlaSignal(
                    action="start",
                    kind="onboarding",
                    subject_id=subject,
                    customer_id=cust.id,
                    at=start,
                ),
            )
            if n % 2:
                put(
                    stack,
                    SlaSignal(
                        action="met",
                        kind="onboarding",
                        subject_id=subject,
                        at=start + timedelta(minutes=30),
                    ),
                )
                met_ids.append(sla_instance_id("onboarding", subject))
            else:
                left_ids.append(sla_instance_id("onboarding", subject))

    def all_settled() -> list[dict[str, Any]] | None:
        """Every kept promise closed, every other clock escalated to the end of the chain
        (then it waits for a signal only, and the virtual clock has nothing left to do)."""
        kept = [clock_of(stack, i) for i in met_ids]
        left = [clock_of(stack, i) for i in left_ids]
        if any(c is None or c["phase"] != "closed" for c in kept):
            return None
        if any(c is None or len(c["escalated_to"]) < 3 for c in left):
            return None
        return [c for c in kept + left if c is not None]

    settled = {c["id"]: c for c in wait_for(stack, "every clock settling", all_settled)}
    for clock_id in met_ids:
        clock = settled[clock_id]
        assert (clock["phase"], clock["state"]) == ("closed", "met"), clock
        assert [h["event"] for h in clock["history"]][-1] == "met"
    for clock_id in left_ids:
        clock = settled[clock_id]
        events = [(h["event"], h["at"]) for h in clock["history"]]
        # At risk at its computed at-risk instant, breached at its deadline, then the chain.
        assert events[:3] == [
            ("started", events[0][1]),
            ("at_risk", clock["at_risk_at"]),
            ("breached", clock["deadline"]),
        ], clock
        assert clock["escalated_to"] == ["owner", "team_lead", "manager"]
        assert clock["state"] == "breached"
        assert datetime.fromisoformat(clock["deadline"]) > start
    outcomes = book.kpi_events.of_month(start, "sla_outcome").items
    mine = {e.subject_id for e in outcomes if e.outcome == "met"}
    assert {f"onboarding:{settled[i]['subject_id']}" for i in met_ids} <= mine
    # The urgent list has every breached clock of this test, most overdue first.
    listed = stack.api("GET", "/api/sla/clocks", params={"state": "breached", "limit": "200"})
    ours = [c for c in listed.json()["items"] if c["id"] in left_ids]
    assert {c["id"] for c in ours} == set(left_ids)
    lefts = [c["business_seconds_left"] for c in ours]
    assert lefts == sorted(lefts)
