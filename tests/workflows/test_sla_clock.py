"""The sla_clock orchestrator in virtual time (tests/orchestrator_driver.py), its activities
played by the same pure transitions the real ones apply to the book (shared/policy/sla.py):
timers at exactly the computed instants, signals applied as they arrive, long waits chained.
docs/rules.md#sla-tier-targets, #sla-pause, #sla-escalation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.models.party import Customer
from shared.models.sla import ClockView, SlaClock, SlaSignal, WakeView
from shared.policy.sla import (
    BusinessHours,
    Wake,
    acknowledge_breach,
    apply_wake,
    cancel_clock,
    complete_clock,
    next_wake,
    open_clock,
    pause_clock,
    resume_clock,
)
from tests.orchestrator_driver import Event, drive, succeeded
from workflows.durable import MAX_TIMER
from workflows.sla_clock import SIGNAL_EVENT, sla_clock

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = BusinessHours(time_zone="Europe/Berlin", country="DE", subdivision="BE")
CUSTOMER = Customer.model_validate(
    {
        "id": "cust-1",
        "partner_id": "p1",
        "company_name": "Contoso",
        "domain": "contoso.onmicrosoft.com",
        "contacts": [{"name": "Ada", "email": "ada@contoso.com"}],
        "billing_currency": "EUR",
        "sla_tier": "premium",
        "calendar": {"time_zone": "Europe/Berlin", "country": "DE", "subdivision": "BE"},
    }
)


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


START = berlin(11, 3, 10)  # a Tuesday; premium onboarding: 4 business hours


class Book:
    """One clock record, changed by the policy's transitions as the activities change it;
    `wakes` records when each wake activity ran, by the orchestration's clock."""

    def __init__(self, context_time: Any) -> None:
        self.record: SlaClock | None = None
        self.now = context_time
        self.wakes: list[tuple[datetime, str, str | None]] = []

    def view(self) -> dict[str, Any]:
        assert self.record is not None
        wake = next_wake(self.record, HOURS)
        return succeeded(
            ClockView(
                kind=self.record.kind,
                subject_id=self.record.subject_id,
                phase=self.record.phase,
                at_risk_at=self.record.at_risk_at,
                deadline=self.record.deadline,
                next_wake=None
                if wake is None
                else WakeView(at=wake.at, reason=wake.reason, role=wake.role),
            )
        )

    def open(self, data: dict[str, Any]) -> dict[str, Any]:
        signal = SlaSignal.model_validate(data["signal"])
        if self.record is None:
            self.record = open_clock(
                signal.kind, CUSTOMER, signal.subject_id, signal.at, deadline=signal.deadline
            )
        return self.view()

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        signal = SlaSignal.model_validate(data["signal"])
        assert self.record is not None
        change = {
            "met": lambda c: complete_clock(c, signal.at),
            "pause": lambda c: pause_clock(c, signal.at, HOURS),
            "resume": lambda c: resume_clock(c, signal.at, HOURS),
            "cancel": lambda c: cancel_clock(c, signal.at),
            "acknowledge": lambda c: acknowledge_breach(c, signal.at, signal.by or "ops"),
        }[signal.action]
        self.record = change(self.record)
        return self.view()

    def wake(self, data: dict[str, Any]) -> dict[str, Any]:
        assert self.record is not None
        wake = WakeView.model_validate(data["wake"])
        self.wakes.append((self.now(), wake.reason, wake.role))
        self.record = apply_wake(self.record, Wake(wake.at, wake.reason, wake.role), wake.at)
        return self.view()


def run_clock(events: list[Event], start: SlaSignal | None = None) -> tuple[Any, Book]:
    start = start or SlaSignal(
        action="start", kind="onboarding", subject_id="order-1", customer_id="cust-1", at=START
    )
    holder: dict[str, Any] = {}
    book = Book(lambda: holder["ctx"].current_utc_datetime)

    def capture(name: str):
        def call(data: Any) -> Any:
            return getattr(book, name)(data)

        return call

    outcomes = {
        "open_sla_clock": capture("open"),
        "apply_sla_signal": capture("apply"),
        "wake_sla_clock": capture("wake"),
    }

    def orchestrator(ctx: Any) -> Any:
        holder["ctx"] = ctx
        return (yield from sla_clock(ctx))

    run = drive(
        orchestrator,
        outcomes,
        input=start.model_dump(mode="json"),
        events=events,
        current_utc_datetime=START,
        step=timedelta(0),
    )
    return run, book


def signal(action: str, at: datetime, by: str | None = None) -> Event:
    data = SlaSignal.model_validate(
        {"action": action, "kind": "onboarding", "subject_id": "order-1", "at": at, "by": by}
    )
    return Event(at, SIGNAL_EVENT, data.model_dump(mode="json"))


def test_a_clock_left_alone_is_at_risk_then_breached_then_escalated_at_its_instants():
    run, book = run_clock([signal("met", berlin(11, 5, 12))])
    assert book.wakes == [
        (berlin(11, 3, 13), "at_risk", None),
        (berlin(11, 3, 14), "breach", None),
        (berlin(11, 3, 14), "escalate", "owner"),
        (berlin(11, 3, 14, 30), "escalate", "team_lead"),
        (berlin(11, 3, 16, 30), "escalate", "manager"),
    ]
    assert run.output["phase"] == "closed"  # met two days late: closed, as breached
    assert book.record is not None and book.record.history[-1].event == "closed_breached"


def test_a_promise_kept_in_time_closes_met_and_never_wakes():
    run, book = run_clock([signal("met", berlin(11, 3, 12))])
    assert book.wakes == []
    assert run.output["phase"] == "closed"
    assert book.record is not None and book.record.history[-1].event == "met"


def test_an_acknowledged_breach_escalates_no_further():
    _, book = run_clock(
        [signal("acknowledge", berlin(11, 3, 14, 10), "ada"), signal("met", berlin(11, 4, 10))]
    )
    assert [w[1:] for w in book.wakes] == [
        ("at_risk", None),
        ("breach", None),
        ("escalate", "owner"),
    ]
    assert book.record is not None and book.record.acknowledged_by == "ada"


def test_a_pause_while_waiting_on_the_customer_moves_the_instants():
    _, book = run_clock(
        [
            signal("pause", berlin(11, 3, 11)),  # 1 h spent
            signal("resume", berlin(11, 4, 9)),  # next morning: 3 h left
            signal("met", berlin(11, 4, 15)),
        ]
    )
    assert [(w[0], w[1]) for w in book.wakes[:2]] == [
        (berlin(11, 4, 11), "at_risk"),
        (berlin(11, 4, 12), "breach"),
    ]


def test_a_cancelled_subject_ends_the_clock_without_an_outcome():
    run, book = run_clock([signal("cancel", berlin(11, 3, 11))])
    assert (run.output["phase"], book.wakes) == ("cancelled", [])


def test_a_wait_longer_than_a_timer_may_be_is_a_chain_of_timers():
    deadline = berlin(11, 3, 10) + timedelta(days=40)
    start = SlaSignal(
        action="start",
        kind="renewal_decision",
        subject_id="sub-1:2027-01-01",
        customer_id="cust-1",
        at=START,
        deadline=deadline,
    )
    met = SlaSignal(
        action="met",
        kind="renewal_decision",
        subject_id="sub-1:2027-01-01",
        at=deadline + timedelta(days=1),
    )
    run, book = run_clock([Event(met.at, SIGNAL_EVENT, met.model_dump(mode="json"))], start)
    assert book.wakes[:2] == [
        (deadline - (deadline - START) / 4, "at_risk", None),
        (deadline, "breach", None),
    ]
    hops = [b - a for a, b in zip([START, *run.context.timers], run.context.timers, strict=False)]
    assert len(run.context.timers) > 6 and max(hops) <= MAX_TIMER


def test_a_signal_raised_by_the_python_client_arrives_as_json_text_and_is_read():
    met = SlaSignal(action="met", kind="onboarding", subject_id="order-1", at=berlin(11, 3, 11))
    run, _ = run_clock([Event(met.at, SIGNAL_EVENT, met.model_dump_json())])
    assert run.output["phase"] == "closed"
