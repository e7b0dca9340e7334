"""The renewal orchestrator in virtual time (tests/orchestrator_driver.py), its activities
played by a small world that applies the same pure rules the real ones do
(shared/policy/renewal.py): reminders at the policy's offsets before the decision deadline
(docs/rules.md#reminder-cadence), a decision applied at once on its SLA clock, the default at
the deadline (docs/rules.md#no-answer), the outcome confirmed after the term end by the
subscription-updated event or the poll (docs/rules.md#renewal-processing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import Failure
from shared.models.renewal import (
    DecisionApplied,
    DecisionPlan,
    ReminderAt,
    ReminderResult,
    RenewalConfirmed,
    RenewalPlan,
    RenewalStart,
)
from shared.models.subscription import (
    ScheduledNextTermInstructions,
    ScheduledProduct,
    Subscription,
)
from shared.policy.renewal import (
    RenewalContext,
    decision_deadline,
    outcome_without_answer,
    reminder_schedule,
    renewal_lock_at,
)
from tests.orchestrator_driver import Event, drive, refused, succeeded
from workflows.durable import MAX_TIMER
from workflows.renewals import DECISION_EVENT, UPDATED_EVENT, instance_id, renewal

TERM_END = datetime(2027, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NEXT_TERM = ScheduledNextTermInstructions(
    product=ScheduledProduct(
        product_id="CFQ7TTC0LH18",
        sku_id="0001",
        availability_id="CFQ7TTC0LDLX",
        billing_cycle="monthly",
        term_duration="P1Y",
    ),
    quantity=8,
)


def subscription(term: str = "P1Y", auto_renew: bool = True) -> Subscription:
    months = {"P1Y": 12, "P1M": 1, "P3Y": 36}[term]
    start = TERM_END - timedelta(days=30 * months)
    return Subscription.model_validate(
        {
            "id": "sub-1",
            "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0LDLX",
            "quantity": 10,
            "status": "active",
            "autoRenewEnabled": auto_renew,
            "billingCycle": "monthly",
            "termDuration": term,
            "effectiveStartDate": start.isoformat(),
            "commitmentEndDate": (TERM_END - DAY).date().isoformat(),
        }
    )


class World:
    """What the activities would find: the subscription, the decision recorded, what was
    applied, sent and confirmed, each with the orchestration's time."""

    def __init__(self, sub: Subscription, now: Any, ctx: RenewalContext, decided: bool) -> None:
        self.sub, self.now, self.ctx = sub, now, ctx
        self.decision: str | None = "renew_with_changes" if decided else None
        self.reminders: list[tuple[datetime, int]] = []
        self.applied: list[tuple[datetime, str, bool]] = []
        self.planned: tuple[datetime, str, bool] = (TERM_END, "", False)
        self.writes: list[tuple[datetime, str]] = []
        self.told: list[datetime] = []
        self.sla: list[tuple[str, datetime]] = []
        self.confirms: list[datetime] = []
        self.settles_at = TERM_END + timedelta(hours=30)
        # Partner Center answers writes 409 800082 (renewal processing) until this moment.
        self.renewing_until = TERM_END - 400 * DAY
        self.refused: list[tuple[datetime, str]] = []
        self.told_not_applied: list[tuple[datetime, str]] = []
        # A decided change is scheduled for the next term; from this moment Partner Center
        # refuses to schedule it (a mid-term change wiped it and made it impossible).
        self.schedules = False
        self.schedule_refused_from = TERM_END + 400 * DAY

    def open(self, data: Any) -> Any:
        schedule = reminder_schedule(self.sub, self.ctx)
        return succeeded(
            RenewalPlan(
                reminders=tuple(
                    ReminderAt(at=r.at, days_before=r.before_deadline.days)
                    for r in schedule
                    if r.at > self.now()
                ),
                deadline=decision_deadline(self.sub),
                lock_at=renewal_lock_at(self.sub),
                term_end=TERM_END,
                decided=self.decision is not None,
                tenant_id="tenant-1",
            )
        )

    def remind(self, data: Any) -> Any:
        self.reminders.append((self.now(), data["reminder"]["days_before"]))
        return succeeded(ReminderResult(sent=True, reason="sent"))

    def read(self, data: Any) -> Any:
        assert data == {"customer_id": "tenant-1", "subscription_id": "sub-1"}
        return succeeded({"subscription": self.sub.model_dump(mode="json", by_alias=True)})

    def plan(self, data: Any) -> Any:
        by = "customer"
        if self.decision is None and data["by_default"]:
            self.decision = outcome_without_answer(self.sub, self.ctx).action
            by = "default"
        elif self.decision is None:  # the `decision` event: the customer chose to cancel
            self.decision = "turn_off_auto_renew"
        self.planned = (self.now(), self.decision, data["by_default"])
        if self.now() >= renewal_lock_at(self.sub) and not self.applied:
            # as shared/policy/renewal.take_answer words it
            reason = "the renewal lock has begun; next: cancel inside the new term's window"
            self.refused.append((self.now(), reason))
            return succeeded(
                DecisionPlan(
                    decision=self.decision,  # type: ignore[arg-type]
                    decided_by=by,  # type: ignore[arg-type]
                    possible=False,
                    reason=reason,
                    rule="renewal-lock",
                )
            )
        off = self.decision == "turn_off_auto_renew" and self.sub.auto_renew_enabled
        change = self.schedules and self.decision == "renew_with_changes"
        return succeeded(
            DecisionPlan(
                decision=self.decision,  # type: ignore[arg-type]
                decided_by=by,  # type: ignore[arg-type]
                possible=True,
                reason="ok",
                rule="scheduled-changes-dropped" if change else "decision-deadline",
                auto_renew=False if off else None,
                schedule=NEXT_TERM if change else None,
            )
        )

    def schedule_next_term(self, data: Any) -> Any:
        self.writes.append((self.now(), data["step_key"]))
        if self.now() >= self.schedule_refused_from:
            return refused(
                Failure(
                    kind="permanent",
                    error_type="PartnerCenterError",
                    code="invalid_request",
                    message="the scheduled product is no longer valid for this subscription",
                )
            )
        return succeeded({"subscription": self.sub.model_dump(mode="json", by_alias=True)})

    def tell_not_applied(self, data: Any) -> Any:
        self.told_not_applied.append((self.now(), data["reason"]))
        return succeeded(ReminderResult(sent=True, reason="told"))

    def set_auto_renew(self, data: Any) -> Any:
        assert data["customer_id"] == "tenant-1" and data["enabled"] is False
        self.writes.append((self.now(), data["step_key"]))
        if self.now() < self.renewing_until:
            return refused(
                Failure(
                    kind="permanent",
                    error_type="RenewalInProgress",
                    code="renewal_processing",
                    message="renewal processing: the subscription is being renewed",
                )
            )
        self.sub = self.sub.model_copy(update={"auto_renew_enabled": False})
        return succeeded({"subscription": self.sub.model_dump(mode="json", by_alias=True)})

    def record(self, data: Any) -> Any:
        self.applied.append(self.planned)
        _, decision, by_default = self.planned
        return succeeded(
            DecisionApplied(
                decision=decision,  # type: ignore[arg-type]
                decided_by="default" if by_default else "customer",
                applied=True,
                summary=data["summary"],
                rule="decision-deadline",
            )
        )

    def tell(self, data: Any) -> Any:
        self.told.append(self.now())
        return succeeded(ReminderResult(sent=True, reason="told"))

    def signal(self, data: Any) -> Any:
        self.sla.append((data["signal"]["action"], self.now()))
        return succeeded({"queue": "sla", "clock_id": "c"})

    def confirm(self, data: Any) -> Any:
        self.confirms.append(self.now())
        if self.now() < self.settles_at and not data["last_look"]:
            return succeeded(RenewalConfirmed(settled=False, summary="processing"))
        return succeeded(RenewalConfirmed(settled=self.now() >= self.settles_at, outcome="renewed"))


def run_renewal(
    events: list[Event] = (),  # type: ignore[assignment]
    *,
    sub: Subscription | None = None,
    ctx: RenewalContext | None = None,
    start_at: datetime = TERM_END - 90 * DAY,
    decided: bool = False,
    settles_at: datetime | None = None,
    renewing_until: datetime | None = None,
    schedule_refused_from: datetime | None = None,
) -> tuple[Any, World]:
    holder: dict[str, Any] = {}
    world = World(
        sub or subscription(),
        lambda: holder["ctx"].current_utc_datetime,
        ctx or RenewalContext(),
        decided,
    )
    if settles_at is not None:
        world.settles_at = settles_at
    if renewing_until is not None:
        world.renewing_until = renewing_until
    if schedule_refused_from is not None:
        world.schedules = True
        world.schedule_refused_from = schedule_refused_from
    outcomes = {
        "open_renewal": world.open,
        "send_renewal_reminder": world.remind,
        "read_subscription": world.read,
        "plan_renewal_decision": world.plan,
        "set_auto_renew": world.set_auto_renew,
        "record_renewal_applied": world.record,
        "tell_renewal_decision": world.tell,
        "tell_renewal_not_applied": world.tell_not_applied,
        "schedule_next_term": world.schedule_next_term,
        "signal_sla_clock": world.signal,
        "confirm_renewal": world.confirm,
    }

    def orchestrator(c: Any) -> Any:
        holder["ctx"] = c
        return (yield from renewal(c))

    start = RenewalStart(customer_id="cust-1", subscription_id="sub-1", term_end=TERM_END)
    run = drive(
        orchestrator,
        outcomes,
        input=start.model_dump(mode="json"),
        events=list(events),
        current_utc_datetime=start_at,
        step=timedelta(0),
        instance_id=instance_id("sub-1", TERM_END),
    )
    return run, world


def test_the_instance_id_is_the_one_event_intake_signals():
    assert instance_id("sub-1", TERM_END) == "renewal-sub-1-20270301"


def test_an_annual_term_gets_reminders_60_30_and_7_days_before_the_deadline_then_the_default():
    run, world = run_renewal(events=[Event(TERM_END + 2 * DAY, UPDATED_EVENT, {})])
    deadline = TERM_END - 2 * DAY
    assert world.reminders == [
        (deadline - 60 * DAY, 60),
        (deadline - 30 * DAY, 30),
        (deadline - 7 * DAY, 7),
    ]
    assert world.applied == [(deadline, "renew", True)]
    assert world.told == []  # keeping auto-renew on is what the reminders said
    assert all(
        later - earlier <= MAX_TIMER
        for earlier, later in zip(run.timers, run.timers[1:], strict=False)
    )
    assert run.output["outcome"] == "renewed"


def test_a_monthly_term_that_simply_rolls_over_gets_no_reminder_but_is_still_confirmed():
    run, world = run_renewal(sub=subscription("P1M"), start_at=TERM_END - 20 * DAY)
    assert world.reminders == []
    assert world.applied == [(TERM_END - 2 * DAY, "renew", True)]
    assert run.output["outcome"] == "renewed"


def test_a_decision_is_applied_when_it_arrives_on_its_sla_clock_and_no_reminder_follows():
    decided_at = TERM_END - 40 * DAY
    events = [Event(decided_at, DECISION_EVENT, {"decisions": 1})]
    _, world = run_renewal(events)
    assert world.reminders == [(TERM_END - 62 * DAY, 60)]
    assert world.applied[0] == (decided_at, "turn_off_auto_renew", False)
    # auto-renew turned off once, through the licence-change activity, keyed by its step
    assert world.writes == [(decided_at, "renewal-sub-1-20270301/auto-renew-1")]
    assert world.sla == [("start", TERM_END - 62 * DAY), ("met", decided_at)]
    assert world.told == [decided_at]
    # the deadline checks Partner Center still holds it (changes wiped mid-term re-applied)
    assert world.applied[1][0] == TERM_END - 2 * DAY


def test_a_decision_recorded_before_the_instance_started_is_applied_first():
    _, world = run_renewal(decided=True)
    assert world.applied[0] == (TERM_END - 90 * DAY, "renew_with_changes", False)
    assert world.reminders == []


def test_a_customer_in_dunning_who_does_not_answer_has_auto_renew_turned_off_and_is_told():
    _, world = run_renewal(ctx=RenewalContext(customer_in_dunning=True))
    assert world.applied == [(TERM_END - 2 * DAY, "turn_off_auto_renew", True)]
    assert world.told == [TERM_END - 2 * DAY]


def test_a_sweep_after_the_deadline_applies_the_default_at_once():
    late = TERM_END - 36 * timedelta(hours=1)
    _, world = run_renewal(start_at=late)
    assert world.reminders == []
    assert world.applied == [(late, "renew", True)]


@pytest.mark.parametrize(
    ("event_at", "looks"),
    [
        # the webhook on time: confirmed when it arrives
        (TERM_END + 30 * timedelta(hours=1), None),
        # the webhook 48 h late: the poll confirmed it first, and once
        (TERM_END + 48 * timedelta(hours=1) + 30 * timedelta(hours=1), None),
    ],
)
def test_the_outcome_is_confirmed_once_whether_the_webhook_is_on_time_or_late(event_at, looks):
    run, world = run_renewal(events=[Event(event_at, UPDATED_EVENT, {})])
    assert run.output["settled"] is True
    assert world.confirms[-1] <= TERM_END + 31 * timedelta(hours=1)


def test_with_no_webhook_ever_the_poll_confirms_and_a_renewal_never_settled_gets_a_last_look():
    run, world = run_renewal(settles_at=TERM_END + 400 * timedelta(hours=1))
    assert world.confirms[0] == TERM_END + timedelta(hours=1)
    assert world.confirms[-1] == TERM_END + 72 * timedelta(hours=1)
    assert run.output["settled"] is False


def test_a_burst_of_subscription_updated_events_brings_one_look_per_poll_interval():
    burst = [Event(TERM_END + timedelta(minutes=10), UPDATED_EVENT, {}) for _ in range(50)]
    run, world = run_renewal(events=burst)
    assert run.output["settled"] is True
    # one early look for the burst, then the polls: +1 h, +7 h ... +31 h, with the burst's
    # remaining events each waking at most one look per interval
    assert len(world.confirms) <= 2 * 7
    assert world.confirms[0] == TERM_END + timedelta(minutes=10)


HOUR = timedelta(hours=1)


def test_a_decision_partner_center_answers_renewal_processing_is_held_then_applied():
    # docs/rules.md#renewal-processing: 409 800082, "wait and resubmit"; the decision is never
    # lost: held on a durable timer and decided again on a fresh read until Partner Center
    # takes it.
    decided_at = TERM_END - 40 * DAY
    events = [Event(decided_at, DECISION_EVENT, {"decisions": 1})]
    run, world = run_renewal(events, renewing_until=decided_at + 70 * timedelta(minutes=1))
    keys = [key for _, key in world.writes]
    assert [at for at, _ in world.writes] == [
        decided_at,
        decided_at + 30 * timedelta(minutes=1),
        decided_at + 60 * timedelta(minutes=1),
        decided_at + 90 * timedelta(minutes=1),
    ]
    assert len(set(keys)) == 4  # each try decided on its own fresh read, its own step key
    assert world.applied[0] == (
        decided_at + 90 * timedelta(minutes=1),
        "turn_off_auto_renew",
        False,
    )
    assert world.sla == [
        ("start", TERM_END - 62 * DAY),
        ("met", decided_at + 90 * timedelta(minutes=1)),
    ]
    assert world.told == [decided_at + 90 * timedelta(minutes=1)]  # once, when applied
    assert world.refused == []
    assert run.output["outcome"] == "renewed"  # the world's own confirmation


def test_a_decision_held_by_renewal_processing_until_the_lock_is_refused_with_the_next_action():
    decided_at = TERM_END - 3 * DAY  # a day before the deadline
    events = [Event(decided_at, DECISION_EVENT, {"decisions": 1})]
    run, world = run_renewal(events, renewing_until=TERM_END)
    lock = renewal_lock_at(world.sub)
    # held every 30 minutes until the lock, then decided again: refused, never dropped
    assert [at for at, _ in world.writes] == [
        decided_at + n * 30 * timedelta(minutes=1) for n in range(2 * 48)
    ]
    assert world.refused == [
        (lock, "the renewal lock has begun; next: cancel inside the new term's window")
    ]
    assert world.applied == [] and world.told == []  # nothing held in Partner Center
    assert ("met", lock) not in world.sla
    # the customer told, once: why, and the next possible action (the activity's notice)
    assert world.told_not_applied == [(lock, "renewal_processing")]
    assert run.output["settled"] is True


def test_a_change_a_mid_term_write_wiped_and_that_cannot_be_scheduled_again_is_told():
    # docs/rules.md#scheduled-changes-dropped: the decided change was scheduled when it came;
    # at the deadline it is scheduled again, and Partner Center now refuses it.
    run, world = run_renewal(decided=True, schedule_refused_from=TERM_END - 10 * DAY)
    deadline = TERM_END - 2 * DAY
    assert [at for at, _ in world.writes] == [TERM_END - 90 * DAY, deadline]
    assert world.told == [TERM_END - 90 * DAY]  # the change confirmed when it was applied
    assert world.told_not_applied == [(deadline, "changes_dropped")]
    assert run.output["settled"] is True


def test_a_change_scheduled_again_at_the_deadline_tells_nothing_more():
    _, world = run_renewal(decided=True, schedule_refused_from=TERM_END + DAY)
    assert len(world.writes) == 2 and world.told_not_applied == []
