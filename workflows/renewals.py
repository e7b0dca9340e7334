"""Orchestrator `renewal`: one subscription's term, from its first reminder to the recorded
outcome (docs/renewals.md).

Started by the daily sweep (triggers/renewals.py) under the instance id
`renewal-<subscription id>-<term end YYYYMMDD>`, so a second sweep, or the same sweep after a
restart, lands on the same instance. Its steps:

1. `open_renewal`: the renewal opened in the book; the reminders still due, the decision
   deadline, the lock and the term end.
2. Until the lock: a durable timer toward the next reminder or the deadline, raced with the
   `decision` event the API and the link page raise once they recorded a decision. A
   reminder is sent unless a decision is recorded. A decision is applied in Partner Center at
   once (a fresh read, the writes the policy names, made by activities/subscriptions.py) and
   the customer told; the renewal-decision SLA clock runs from the first reminder (or
   decision) to the deadline and is met when a decision is applied. At the
   deadline the decision in force is applied once more, or the policy's default when nobody
   answered (changes a mid-term write wiped are scheduled again; a default that turns
   auto-renew off is told to the customer).
3. After the term end: the `subscription_updated` event (event intake, up to 48 h late) or a
   poll every 6 hours until Partner Center shows the renewal settled; the outcome is
   recorded once. After 72 h a last look records what it shows, or alerts ops.

Timers longer than 6 days are chains (workflows.durable.timer_toward).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.renewals import (
    ConfirmRenewal,
    OpenRenewal,
    PlanDecision,
    RecordApplied,
    SendReminder,
    TellDecision,
    TellNotApplied,
    confirm_renewal,
    open_renewal,
    plan_renewal_decision,
    record_renewal_applied,
    send_renewal_reminder,
    tell_renewal_decision,
    tell_renewal_not_applied,
)
from activities.sla_clocks import SignalClock, signal_sla_clock
from activities.subscriptions import (
    RENEWAL_PROCESSING,
    ScheduleNextTerm,
    SetAutoRenew,
    SubscriptionRef,
    read_subscription,
    schedule_next_term,
    set_auto_renew,
)
from shared.models.renewal import (
    DecisionApplied,
    DecisionPlan,
    RenewalConfirmed,
    RenewalPlan,
    RenewalStart,
    RenewalStatus,
)
from shared.models.sla import SlaSignal
from shared.models.subscription import Subscription
from shared.notifications.kinds import RenewalNotAppliedReason
from workflows.durable import (
    orchestration,
    read_input,
    run,
    set_status,
    step_key,
    timer_toward,
)

bp = df.Blueprint()

DECISION_EVENT = "decision"
UPDATED_EVENT = "subscription_updated"
FIRST_LOOK = timedelta(hours=1)
POLL_EVERY = timedelta(hours=6)
LAST_LOOK = timedelta(hours=72)
# How long a decision Partner Center answered 409 800082 (renewal processing) is held before
# it is decided again on a fresh read (Microsoft: "wait about 2 minutes and resubmit"; the
# licence-change workflow holds as long).
HOLD = timedelta(minutes=30)


def instance_id(subscription_id: str, term_end: datetime) -> str:
    """The instance of one subscription's term (event intake signals the same id)."""
    return f"renewal-{subscription_id}-{term_end:%Y%m%d}"


@orchestration(bp)
def renewal(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    start = read_input(context, RenewalStart)
    plan: RenewalPlan = (
        yield from run(
            context,
            open_renewal,
            OpenRenewal(step_key=step_key(context, "open"), start=start),
        )
    ).unwrap()
    if plan.closed:
        set_status(context, RenewalStatus(phase="closed"))
        return {"closed": True}
    state = _State(start, plan)
    if plan.decided:
        yield from state.apply(context, by_default=False)
    decision = context.wait_for_external_event(DECISION_EVENT)
    reminders = list(plan.reminders)
    deadline_done = False
    while context.current_utc_datetime < plan.lock_at:
        if reminders and reminders[0].at < plan.deadline:
            wake, what = reminders[0].at, "reminder"
        elif not deadline_done:
            wake, what = plan.deadline, "deadline"
        else:
            wake, what = plan.lock_at, "lock"
        set_status(
            context,
            RenewalStatus(phase="reminding", next_wake=wake, decision=state.decision),
        )
        timer = timer_toward(context, wake)
        winner = yield context.task_any([timer, decision])
        if winner is decision:
            timer.cancel()
            decision = context.wait_for_external_event(DECISION_EVENT)
            yield from state.apply(context, by_default=False)
            continue
        if context.current_utc_datetime < wake:
            continue  # one hop of a long wait
        if what == "reminder":
            reminder = reminders.pop(0)
            if not state.decided:
                yield from state.start_clock(context)
                request = SendReminder(
                    step_key=step_key(context, f"reminder-{reminder.days_before}d"),
                    start=start,
                    reminder=reminder,
                )
                yield from run(context, send_renewal_reminder, request)
        elif what == "deadline":
            deadline_done = True
            reminders.clear()
            defaulted = not state.decided
            applied = yield from state.apply(context, by_default=True)
            if defaulted and applied is not None and applied.decision == "turn_off_auto_renew":
                yield from run(
                    context,
                    tell_renewal_decision,
                    TellDecision(step_key=step_key(context, "tell-default"), start=start),
                )
    outcome = yield from _confirm(context, start, plan.term_end)
    set_status(
        context, RenewalStatus(phase="closed", decision=state.decision, outcome=outcome.outcome)
    )
    return outcome.model_dump(mode="json")


class _State:
    """What the loop knows between steps: the decisions applied so far."""

    def __init__(self, start: RenewalStart, plan: RenewalPlan) -> None:
        self.start = start
        self.plan = plan
        self.applies = 0
        self.decided = plan.decided
        self.decision: Any = None
        self.clock_started = False
        self.clock_met = False

    @property
    def clock_subject(self) -> str:
        """`<subscription id>:<commitmentEndDate>` (docs/rules.md#renewal-decision-clock)."""
        last_day = (self.start.term_end - timedelta(seconds=1)).date()
        return f"{self.start.subscription_id}:{last_day.isoformat()}"

    def start_clock(self, context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
        """The renewal-decision clock, from the first reminder (or decision) to the decision
        deadline (docs/rules.md#renewal-decision-clock); met once a decision is applied."""
        if self.clock_started:
            return
        self.clock_started = True
        yield from run(
            context,
            signal_sla_clock,
            SignalClock(
                step_key=step_key(context, "sla-start"),
                signal=SlaSignal(
                    action="start",
                    kind="renewal_decision",
                    subject_id=self.clock_subject,
                    at=context.current_utc_datetime,
                    customer_id=self.start.customer_id,
                    deadline=self.plan.deadline,
                ),
            ),
        )

    def apply(
        self, context: df.DurableOrchestrationContext, *, by_default: bool
    ) -> Generator[Any, Any, DecisionApplied | None]:
        self.applies += 1
        n = self.applies
        yield from self.start_clock(context)
        ref = SubscriptionRef(
            customer_id=self.plan.tenant_id, subscription_id=self.start.subscription_id
        )
        held_once = False
        while True:
            read = (yield from run(context, read_subscription, ref, retry="patient")).unwrap()
            plan = (
                yield from run(
                    context,
                    plan_renewal_decision,
                    PlanDecision(
                        step_key=step_key(context, f"plan-{n}"),
                        start=self.start,
                        read=read.subscription,
                        by_default=by_default,
                    ),
                )
            ).unwrap()
            if plan.decision is None or plan.decided_by is None:
                return None
            applied, held = yield from self.write(context, n, plan, read.subscription)
            if not held:
                break
            held_once = True
            # Partner Center is processing a renewal (409 800082): the decision is held and
            # decided again on a fresh read after a while; once the lock has begun the plan
            # refuses it with the next possible action (docs/rules.md#renewal-processing).
            self.applies += 1
            n = self.applies
            until = min(context.current_utc_datetime + HOLD, self.plan.lock_at)
            set_status(
                context,
                RenewalStatus(phase="held", next_wake=until, decision=plan.decision),
            )
            yield timer_toward(context, until)
        self.decided = True
        self.decision = applied.decision
        reason = self.not_applied(applied, plan, held_once=held_once, by_default=by_default)
        if reason is not None:
            yield from run(
                context,
                tell_renewal_not_applied,
                TellNotApplied(
                    step_key=step_key(context, f"tell-not-applied-{n}"),
                    start=self.start,
                    reason=reason,
                ),
            )
        if applied.applied and not self.clock_met:
            self.clock_met = True
            yield from run(
                context,
                signal_sla_clock,
                SignalClock(
                    step_key=step_key(context, "sla-met"),
                    signal=SlaSignal(
                        action="met",
                        kind="renewal_decision",
                        subject_id=self.clock_subject,
                        at=context.current_utc_datetime,
                    ),
                ),
            )
        if applied.applied and not by_default and applied.decided_by == "customer":
            yield from run(
                context,
                tell_renewal_decision,
                TellDecision(step_key=step_key(context, f"tell-{n}"), start=self.start),
            )
        return applied

    def not_applied(
        self, applied: DecisionApplied, plan: DecisionPlan, *, held_once: bool, by_default: bool
    ) -> RenewalNotAppliedReason | None:
        """Why the customer is told a decision did not reach Partner Center before the lock
        (None: nothing to tell). Told: someone's decision refused at the lock (held off by
        renewal processing, or Partner Center refused the write), and changes scheduled for
        the next term that a mid-term change wiped and that could not be scheduled again
        at the deadline (docs/rules.md#scheduled-changes-dropped)."""
        if applied.applied or (plan.rule == "renewal-processing" and not held_once):
            return None  # applied, or the term already moved: nothing was refused
        reapplied = by_default and self.clock_met and plan.possible
        if reapplied and plan.schedule is not None:
            return "changes_dropped"
        if applied.decided_by not in ("customer", "partner"):
            return None
        return "renewal_processing" if held_once else "partner_center_refused"

    def write(
        self,
        context: df.DurableOrchestrationContext,
        n: int,
        plan: DecisionPlan,
        sub: Subscription,
    ) -> Generator[Any, Any, tuple[DecisionApplied, bool]]:
        """The writes the plan names (activities/subscriptions.py), then the renewal marked
        applied; a refusal (the lock began) leaves it unapplied; renewal processing (409
        800082) leaves it unapplied and held (True)."""
        assert plan.decision is not None and plan.decided_by is not None
        unapplied = DecisionApplied(
            decision=plan.decision,
            decided_by=plan.decided_by,
            decided_at=plan.decided_at,
            applied=False,
            summary=plan.reason,
            rule=plan.rule,
        )
        if not plan.possible:
            return unapplied, False
        target = {"customer_id": self.plan.tenant_id, "subscription_id": self.start.subscription_id}
        done: list[str] = []
        writes: list[tuple[Any, Any, str]] = []
        if plan.auto_renew is not None:
            change = SetAutoRenew(
                step_key=step_key(context, f"auto-renew-{n}"), enabled=plan.auto_renew, **target
            )
            writes.append(
                (set_auto_renew, change, f"auto-renew turned {'on' if plan.auto_renew else 'off'}")
            )
        if plan.schedule is not None:
            schedule = ScheduleNextTerm(
                step_key=step_key(context, f"schedule-{n}"), instructions=plan.schedule, **target
            )
            quantity, item = plan.schedule.quantity, plan.schedule.product.catalog_item_id
            writes.append(
                (schedule_next_term, schedule, f"next term scheduled: {quantity} x {item}")
            )
        for activity, payload, what in writes:
            outcome = yield from run(context, activity, payload, retry="patient")
            if outcome.failure is not None:
                held = outcome.failure.code == RENEWAL_PROCESSING
                return unapplied.model_copy(
                    update={"summary": f"Partner Center refused: {outcome.failure.message}"[:500]}
                ), held
            assert outcome.value is not None
            sub = outcome.value.subscription
            done.append(what)
        summary = "; ".join(done) or "Partner Center already holds it"
        record = RecordApplied(
            step_key=step_key(context, f"applied-{n}"), start=self.start, read=sub, summary=summary
        )
        applied: DecisionApplied = (
            yield from run(context, record_renewal_applied, record)
        ).unwrap()
        return applied, False


def _confirm(
    context: df.DurableOrchestrationContext, start: RenewalStart, term_end: datetime
) -> Generator[Any, Any, RenewalConfirmed]:
    """Wait for the term end, then until Partner Center shows the renewal settled: the
    subscription-updated event or a poll, whichever first; a last look after 72 h."""
    while context.current_utc_datetime < term_end:
        set_status(context, RenewalStatus(phase="waiting_for_term_end", next_wake=term_end))
        yield timer_toward(context, term_end)
    updated = context.wait_for_external_event(UPDATED_EVENT)
    look = 0
    next_poll = term_end + FIRST_LOOK
    give_up = term_end + LAST_LOOK
    # A subscription-updated event wakes the wait early once per poll interval: after a look
    # it brings, only the timer is waited for until the next poll. Events can come in bursts
    # (buffered while the term ran), and a virtual clock never moves while an instance keeps
    # looking at the same instant.
    listening = True
    while True:
        set_status(context, RenewalStatus(phase="confirming", next_wake=next_poll))
        timer = timer_toward(context, next_poll)
        if listening:
            winner = yield context.task_any([timer, updated])
        else:
            winner = yield timer
        if listening and winner is updated:
            timer.cancel()
            updated = context.wait_for_external_event(UPDATED_EVENT)
            listening = False
        elif context.current_utc_datetime < next_poll:
            continue
        else:
            next_poll = min(context.current_utc_datetime + POLL_EVERY, give_up)
            listening = True
        look += 1
        last = context.current_utc_datetime >= give_up
        request = ConfirmRenewal(
            step_key=step_key(context, f"confirm-{look}"), start=start, last_look=last
        )
        seen: RenewalConfirmed = (
            yield from run(context, confirm_renewal, request, retry="patient")
        ).unwrap()
        if seen.settled or last:
            return seen
