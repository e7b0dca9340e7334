"""Orchestrator `dunning`: one unpaid invoice collected, or written off, on the ladder of
shared/policy/dunning.py (docs/dunning.md, docs/rules.md#step-order).

Started by event intake on `invoice.payment_failed` under `dunning-<invoice id>`
(triggers/queues/routing.py), so a second failure event for the invoice lands on the running
case. It opens the case in the book, starts the first-contact SLA clock, then loops: the
policy's `next_step` says what to do next and when; the orchestrator waits for that moment
on a durable timer and, at the same time, for Stripe's news (`invoice_paid`, `card_updated`,
`payment_failed`, each carrying its `event_key`; a key seen before is ignored). News is
applied by re-reading Stripe (`refresh_dunning_case`): a payment by any route stops the
case at once, a new default card is charged at once. A due step runs as one activity, which
re-reads the invoice itself before charging or mailing. Every path ends in `close`
(recovered, written off, or cancelled when the invoice was voided), which records the
`dunning_recovery` KPI event.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict, Field

from activities.dunning import (
    AutoRenew,
    CaseStep,
    Charge,
    Close,
    CustomerPage,
    ExpiryScan,
    Notify,
    OpenCase,
    Refresh,
    card_customers_page,
    charge_dunning_invoice,
    close_dunning_case,
    open_dunning_case,
    reactivate_after_payment,
    refresh_dunning_case,
    send_dunning_notice,
    set_dunning_auto_renew,
    suspend_for_dunning,
    warn_expiring_card,
    write_off_dunning_case,
)
from activities.sla_clocks import SignalClock, signal_sla_clock
from shared.models import DomainModel, UtcDateTime
from shared.models.dunning import DunningCaseRecord
from shared.models.sla import SlaSignal
from shared.policy.dunning import DunningStep, next_step
from workflows.durable import (
    Outcome,
    call,
    continue_as_new,
    event_model,
    orchestration,
    read_input,
    run,
    set_status,
    settle_bounded,
    step_key,
    timer_toward,
)

bp = df.Blueprint()

EVENTS = ("invoice_paid", "card_updated", "payment_failed")
# How long (in hours, one retry an hour) a case rides out Stripe or Partner Center being down
# beyond a step's own retries before it fails for ops to see.
OUTAGE_HOURS = 48
SLA_KIND = "payment_first_contact"


class DunningStart(BaseModel):
    """Event intake's start payload for `invoice.payment_failed` or `invoice.overdue`
    (docs/intake.md)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stripe_invoice_id: str = Field(min_length=1, max_length=255)
    invoice_id: str | None = Field(default=None, max_length=64)
    stripe_customer_id: str = Field(min_length=1, max_length=255)
    event_key: str | None = None
    # Started by `invoice.overdue` (invoice terms): no decline, no automatic charge.
    overdue: bool = False


class DunningNews(BaseModel):
    """A signal from event intake: only its key matters (the workflow re-reads Stripe)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_key: str | None = None
    setup_intent_id: str | None = Field(default=None, max_length=255)
    payment_method_id: str | None = Field(default=None, max_length=255)


class DunningStatus(DomainModel):
    invoice_id: str
    status: str
    attempts: int
    notices: int
    next_action: str | None = None
    next_at: UtcDateTime | None = None


def case_id(start: DunningStart) -> str:
    """The case's id: cspflow's invoice id when Stripe's metadata names it, else Stripe's."""
    return start.invoice_id or start.stripe_invoice_id


@orchestration(bp)
def dunning(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    start = read_input(context, DunningStart)
    invoice_id = case_id(start)
    opened = yield from run(
        context,
        open_dunning_case,
        OpenCase(
            step_key=step_key(context, "open"),
            invoice_id=invoice_id,
            stripe_invoice_id=start.stripe_invoice_id,
            stripe_customer_id=start.stripe_customer_id,
            failed_at=context.current_utc_datetime,
            overdue=start.overdue,
        ),
    )
    if opened.value is None:
        reason = opened.failure.describe() if opened.failure else "no case"
        return {"invoice_id": invoice_id, "status": "not_opened", "reason": reason}
    record = opened.value
    yield from _clock(context, "start", record, "sla-start")
    clock_open = True
    seen = {start.event_key} if start.event_key else set()
    waits = {name: context.wait_for_external_event(name) for name in EVENTS}
    loop = 0
    outages = 0
    while record.status == "open":
        loop += 1
        if clock_open and record.first_notice_at is not None:
            yield from _clock(context, "met", record, "sla-met")
            clock_open = False
        now = context.current_utc_datetime
        step = next_step(record.case, now)
        _publish(context, record, step)
        if step.action == "close":
            break
        if step.at > now:
            timer = timer_toward(context, step.at)
            winner = yield context.task_any([timer, *waits.values()])
            if winner is not timer:
                timer.cancel()
                name = next(n for n, task in waits.items() if task is winner)
                _delivered(context, name)
                waits[name] = context.wait_for_external_event(name)
                news = event_model(DunningNews, winner.result)
                key = news.event_key
                if key is not None and key in seen:
                    continue
                if key is not None:
                    seen.add(key)
                record = yield from _refresh(context, record, name, loop, news)
                continue
            if context.current_utc_datetime < step.at:
                continue  # one hop of a wait longer than a timer may be
        outcome = yield from _act(context, record, step, loop)
        if outcome.value is not None:
            record, outages = outcome.value, 0
        elif outcome.failure is not None and outcome.failure.kind != "permanent":
            # Stripe or Partner Center down for longer than the step's retries: the case
            # waits and tries again (the same step key), for up to OUTAGE_HOURS.
            outages += 1
            if outages > OUTAGE_HOURS:
                outcome.unwrap()
            yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
        else:
            outcome.unwrap()  # a refusal the step could not absorb: fail loudly for ops
    if clock_open:
        yield from _clock(context, "met" if record.first_notice_at else "cancel", record, "sla-end")
    closed = (
        yield from run(
            context,
            close_dunning_case,
            Close(
                step_key=step_key(context, "close"),
                invoice_id=invoice_id,
                at=context.current_utc_datetime,
            ),
        )
    ).unwrap()
    _publish(context, closed, None)
    return {
        "invoice_id": invoice_id,
        "status": closed.status,
        "declines": len(closed.case.attempts),
        "notices": closed.case.notices_sent,
    }


def _delivered(context: df.DurableOrchestrationContext, name: str) -> None:
    """Forget an event of `name` the Python SDK held back for a wait not yet scheduled (it
    arrived while an activity ran), now that a wait received it. The SDK keeps such an event
    in `deferred_tasks` and hands it again to every later wait of the same name, so the next
    wait would complete at once with the old event, and again, without end ("Potential
    duplicate Task completion", then maximum recursion depth, as devhost showed). What is in
    `deferred_tasks` is rebuilt from the history on every replay: deterministic."""
    deferred = getattr(context, "deferred_tasks", None)
    if isinstance(deferred, dict):
        deferred.pop(name, None)


def _act(
    context: df.DurableOrchestrationContext, record: DunningCaseRecord, step: DunningStep, loop: int
) -> Generator[Any, Any, Outcome[DunningCaseRecord]]:
    """Run the due step: one activity, which answers the case as it now is."""
    at = context.current_utc_datetime
    invoice_id = record.invoice_id
    if step.action == "retry_charge":
        attempt = len(record.case.attempts) + 1
        outcome = yield from run(
            context,
            charge_dunning_invoice,
            Charge(
                step_key=step_key(context, f"charge-{attempt}"),
                invoice_id=invoice_id,
                at=at,
                attempt=attempt,
            ),
            retry="patient",
        )
    elif step.action == "send_payment_failed_notice":
        number = record.case.notices_sent + 1
        outcome = yield from run(
            context,
            send_dunning_notice,
            Notify(
                step_key=step_key(context, f"notice-{number}"),
                invoice_id=invoice_id,
                at=at,
                number=number,
                ask=step.ask or "pay",
                final=step.final_notice,
            ),
        )
    elif step.action in ("turn_off_auto_renew", "restore_auto_renew"):
        enabled = step.action == "restore_auto_renew"
        outcome = yield from run(
            context,
            set_dunning_auto_renew,
            AutoRenew(
                step_key=step_key(context, "auto-renew-on" if enabled else "auto-renew-off"),
                invoice_id=invoice_id,
                at=at,
                enabled=enabled,
            ),
            retry="patient",
        )
    else:
        activity = {
            "suspend": suspend_for_dunning,
            "reactivate": reactivate_after_payment,
            "write_off": write_off_dunning_case,
        }[step.action]
        outcome = yield from run(
            context,
            activity,
            CaseStep(
                step_key=step_key(context, step.action.replace("_", "-")),
                invoice_id=invoice_id,
                at=at,
            ),
            retry="patient",
        )
    return outcome


def _refresh(
    context: df.DurableOrchestrationContext,
    record: DunningCaseRecord,
    reason: str,
    loop: int,
    news: DunningNews,
) -> Generator[Any, Any, DunningCaseRecord]:
    outcome = yield from run(
        context,
        refresh_dunning_case,
        Refresh(
            step_key=step_key(context, f"refresh-{loop}"),
            invoice_id=record.invoice_id,
            at=context.current_utc_datetime,
            reason=reason,  # type: ignore[arg-type]
            setup_intent_id=news.setup_intent_id,
            payment_method_id=news.payment_method_id,
        ),
    )
    return outcome.unwrap()


def _clock(
    context: df.DurableOrchestrationContext, action: str, record: DunningCaseRecord, step: str
) -> Generator[Any, Any, None]:
    """The first-contact promise's clock: started at the failure, met by the first notice
    (docs/architecture.md, "Promises on an SLA clock")."""
    at = (
        record.case.opened_at
        if action == "start"
        else record.first_notice_at or context.current_utc_datetime
    )
    signal = SlaSignal.model_validate(
        {
            "action": action,
            "kind": SLA_KIND,
            "subject_id": record.invoice_id,
            "customer_id": record.customer_id,
            "at": at,
            "by": "dunning" if action == "cancel" else None,
        }
    )
    yield from run(
        context, signal_sla_clock, SignalClock(step_key=step_key(context, step), signal=signal)
    )


def _publish(
    context: df.DurableOrchestrationContext, record: DunningCaseRecord, step: DunningStep | None
) -> None:
    set_status(
        context,
        DunningStatus(
            invoice_id=record.invoice_id,
            status=record.status,
            attempts=len(record.case.attempts),
            notices=record.case.notices_sent,
            next_action=step.action if step else None,
            next_at=step.at if step else None,
        ),
    )


# -- card-expiry pre-dunning ----------------------------------------------------------------


class CardExpirySweep(DomainModel):
    """One sweep's input: its month (`YYYYMM`, in the instance id and every step key) and the
    page of customers it has reached."""

    month: str = Field(pattern=r"^\d{6}$")
    next: str | None = Field(default=None, max_length=2000)
    page: int = Field(default=0, ge=0)
    warned: int = Field(default=0, ge=0)


SWEEP_BATCH = 10


@orchestration(bp)
def card_expiry_sweep(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Every customer paying by card: its default card, if it expires within 30 days, gets
    the card-update link ahead of time (activities.dunning.warn_expiring_card), once per card
    and expiry. One page of customers per episode, continued as new."""
    sweep = read_input(context, CardExpirySweep)
    page = (
        yield from run(context, card_customers_page, CustomerPage(next=sweep.next, limit=100))
    ).unwrap()
    at = context.current_utc_datetime
    outcomes = yield from settle_bounded(
        (
            lambda cid=cid: call(  # type: ignore[misc]
                context,
                warn_expiring_card,
                ExpiryScan(step_key=f"{context.instance_id}/card-{cid}", customer_id=cid, at=at),
            )
            for cid in page.customer_ids
        ),
        SWEEP_BATCH,
    )
    warned = sweep.warned + sum(len(o.value.notices) for o in outcomes if o.value is not None)
    if page.next is not None:
        continue_as_new(
            context,
            CardExpirySweep(month=sweep.month, next=page.next, page=sweep.page + 1, warned=warned),
        )
        return None
    return {"month": sweep.month, "pages": sweep.page + 1, "warned": warned}
