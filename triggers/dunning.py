"""Dunning cases from the outside (docs/dunning.md, docs/api.md):

- `GET /api/dunning?state=open`: the open cases, in invoice id order, paged (the book's
  `OpenDunningCases` index: one partition holding only what is open);
- `GET /api/dunning/{invoice_id}`: one case (open or closed) with its attempts, notices,
  history and the next step with its date;
- `POST /api/ops/card-expiry-sweeps` and the timer `card_expiry_monthly`
  (`CSPFLOW_DUNNING_CARD_EXPIRY_SCHEDULE`, NCRONTAB in UTC, or `off`; the 1st and the 22nd):
  the card-expiry sweep (`card-expiry-<YYYYMM>`, from the 22nd
  `card-expiry-<YYYYMM>-reminders`; workflows/dunning.py), twice a month.

Cases are started by event intake (`invoice.payment_failed`, triggers/queues/routing.py),
never through the API. A start intake kept in the book's `WorkflowInbox` while dunning was
not deployed (docs/intake.md) is started by the daily timer `dunning_parked_starts`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import datetime
from typing import Literal

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from shared.book import Book, InvalidKey
from shared.clock import app_clock
from shared.config import get_settings
from shared.models import DomainModel, UtcDateTime
from shared.models.billing import PaymentAttempt
from shared.models.dunning import (
    DunningCaseRecord,
    DunningHistoryEntry,
    DunningNextStep,
    DunningStatus,
)
from shared.models.money import Money
from shared.policy.dunning import classify_attempt
from triggers.api import API, Call, NotFound, Reply
from triggers.api.paging import Page, Paging
from triggers.api.replies import DurableCheckStatus, check_status_reply
from triggers.queues.consumer import DurableOrchestrations, Orchestrations
from triggers.reads import book, storage, valid_id
from workflows.dunning import CardExpirySweep, card_expiry_sweep, dunning

bp = df.Blueprint()
log = logging.getLogger("cspflow.dunning")

_INVOICE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class AttemptOut(DomainModel):
    attempted_at: UtcDateTime
    amount: Money
    payment_method_id: str
    outcome: str
    decline_code: str | None
    failure_code: str | None
    advice_code: str | None
    decline_class: Literal["soft", "needs_customer_action", "hard"]


class DunningCaseOut(DomainModel):
    """A dunning case as the API shows it."""

    invoice_id: str
    customer_id: str
    status: DunningStatus
    opened_at: UtcDateTime
    closed_at: UtcDateTime | None
    stripe_invoice_id: str | None
    invoice_number: str | None
    amount_due: Money | None
    payment_method_id: str
    attempts: list[AttemptOut]
    notices_sent: int
    first_notice_at: UtcDateTime | None
    suspended: bool
    suspended_subscriptions: list[str]
    auto_renew_off: bool
    auto_renew_turned_off: list[str]
    next_renewal_lock_at: UtcDateTime | None
    paid_at: UtcDateTime | None
    written_off: bool
    next_step: DunningNextStep | None = Field(
        description="What the ladder does next and when; null once the case is closed"
    )
    history: list[DunningHistoryEntry]


class CaseFilter(DomainModel):
    state: Literal["open"] = Field(
        default="open", description="Which cases: only open ones are listed"
    )


def _attempt(a: PaymentAttempt) -> AttemptOut:
    return AttemptOut(
        attempted_at=a.attempted_at,
        amount=a.amount,
        payment_method_id=a.payment_method_id,
        outcome=a.outcome,
        decline_code=a.decline_code,
        failure_code=a.failure_code,
        advice_code=a.advice_code,
        decline_class=classify_attempt(a),
    )


def case_out(record: DunningCaseRecord) -> DunningCaseOut:
    case = record.case
    return DunningCaseOut(
        invoice_id=record.invoice_id,
        customer_id=record.customer_id,
        status=record.status,
        opened_at=case.opened_at,
        closed_at=record.closed_at,
        stripe_invoice_id=record.stripe_invoice_id,
        invoice_number=record.invoice_number,
        amount_due=record.amount_due,
        payment_method_id=case.payment_method_id,
        attempts=[_attempt(a) for a in case.attempts],
        notices_sent=case.notices_sent,
        first_notice_at=record.first_notice_at,
        suspended=case.suspended,
        suspended_subscriptions=list(record.suspended_subscriptions),
        auto_renew_off=case.auto_renew_off,
        auto_renew_turned_off=list(record.auto_renew_turned_off),
        next_renewal_lock_at=case.next_renewal_lock_at,
        paid_at=case.paid_at,
        written_off=case.written_off,
        next_step=record.next_step if record.status == "open" else None,
        history=list(record.history),
    )


@API.route(
    bp,
    "GET",
    "dunning",
    summary="Open dunning cases, in invoice id order",
    query=CaseFilter,
    paged=Paging(default_limit=50, max_limit=200),
    responses={200: Page[DunningCaseOut]},
    tags=("dunning",),
)
def list_dunning_cases(call: Call[None]) -> Page[DunningCaseOut]:
    with storage():
        page = book().dunning.open_cases(limit=call.page.limit, next=call.page.after)
    return call.page.page([case_out(r) for r in page.items], after=page.next)


@API.route(
    bp,
    "GET",
    "dunning/{invoice_id}",
    summary="One dunning case: attempts, notices, history and the next step with its date",
    responses={200: DunningCaseOut},
    tags=("dunning",),
)
def get_dunning_case(call: Call[None]) -> DunningCaseOut:
    invoice_id = call.route_values["invoice_id"]
    stored = None
    if valid_id(invoice_id, _INVOICE_ID):
        with storage():
            try:
                stored = book().dunning.find(invoice_id)
            except InvalidKey:
                stored = None
    if stored is None:
        raise NotFound(
            f"there is no dunning case for invoice {invoice_id[:100]!r}", field="invoice_id"
        )
    return case_out(stored.record)


# -- card-expiry pre-dunning: the monthly sweep ------------------------------------------------

SWEEP_ORCHESTRATOR = card_expiry_sweep.__name__
SCHEDULE_SETTING = "CSPFLOW_DUNNING_CARD_EXPIRY_SCHEDULE"
# 06:00 UTC on the 1st (the notices) and the 22nd (the reminders) of every month
DEFAULT_SCHEDULE = "0 0 6 1,22 * *"
REMINDER_DAY = 22  # a sweep from this day of the month on is the month's reminder sweep
_SCHEDULE = re.compile(r"^(off|\S+( \S+){5})$")
_DONE_OR_RUNNING = (
    df.OrchestrationRuntimeStatus.Running,
    df.OrchestrationRuntimeStatus.Pending,
    df.OrchestrationRuntimeStatus.ContinuedAsNew,
    df.OrchestrationRuntimeStatus.Completed,
)


def sweep_instance(now: datetime) -> str:
    """The month's sweep (`card-expiry-<YYYYMM>`), or from the 22nd its reminder sweep
    (`card-expiry-<YYYYMM>-reminders`): twice a month, whoever asks."""
    suffix = "-reminders" if now.day >= REMINDER_DAY else ""
    return f"card-expiry-{now:%Y%m}{suffix}"


async def start_card_expiry_sweep(client: df.DurableOrchestrationClient, now: datetime) -> str:
    """Start the sweep unless it runs or ran (twice a month, whoever asks); its id."""
    instance = sweep_instance(now)

    async def needs_start() -> bool:
        status = await client.get_status(instance)
        return status.runtime_status not in _DONE_OR_RUNNING

    if await needs_start():
        try:
            await client.start_new(
                SWEEP_ORCHESTRATOR,
                instance,
                CardExpirySweep(month=f"{now:%Y%m}").model_dump(mode="json"),
            )
        except Exception:
            # A concurrent start won (the timer and a request): the collapse working.
            if await needs_start():
                raise
    return instance


@API.route(
    bp,
    "POST",
    "ops/card-expiry-sweeps",
    summary="Mail the card-update link to customers whose card expires within a month",
    responses={202: DurableCheckStatus},
    durable_client=True,
    tags=("dunning",),
)
async def start_card_expiry_sweep_request(
    call: Call[None], client: df.DurableOrchestrationClient
) -> Reply:
    """Starts the card-expiry sweep (what the timer does on the 1st and the 22nd), or answers
    the one that runs or ran (the month's, or from the 22nd its reminder sweep). `Location`
    is its Durable status."""
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    return check_status_reply(client, call, await start_card_expiry_sweep(client, now))


def sweep_schedule(environ: dict[str, str] | None = None) -> str:
    """The timer's schedule, read when the app is indexed: the setting, or the 1st and the
    22nd of the month at 06:00 UTC when it is unset or not a schedule; `off` registers no
    timer."""
    value = (os.environ if environ is None else environ).get(SCHEDULE_SETTING, "").strip()
    return value if _SCHEDULE.fullmatch(value) else DEFAULT_SCHEDULE


SCHEDULE = sweep_schedule()
if SCHEDULE != "off":

    @bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", use_monitor=True)
    @bp.durable_client_input(client_name="client")
    async def card_expiry_monthly(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """Starts the card-expiry sweep on the 1st and the 22nd of every month
        (CSPFLOW_DUNNING_CARD_EXPIRY_SCHEDULE)."""
        now = await asyncio.to_thread(app_clock(get_settings()).now)
        log.info("card-expiry sweep %s", await start_card_expiry_sweep(client, now))


# -- starts kept before dunning was deployed ---------------------------------------------------

CASE_ORCHESTRATOR = dunning.__name__
PARKED_SETTING = "CSPFLOW_DUNNING_PARKED_STARTS_SCHEDULE"
DEFAULT_PARKED_SCHEDULE = "0 15 6 * * *"  # 06:15 UTC every day
_INSTANCE_PREFIX = f"{CASE_ORCHESTRATOR}-"


async def start_parked_cases(book: Book, orchestrations: Orchestrations) -> list[str]:
    """The dunning starts event intake kept in the `WorkflowInbox` while dunning was not
    deployed (docs/intake.md): each case started now, with the payload intake kept, unless
    the book already holds its case or its instance runs or ran (a start is idempotent on
    the instance id, so a second run starts nothing). Signals kept for those instances are
    not raised: the case re-reads the invoice and the card from Stripe when it opens. The
    instance ids started."""
    started: list[str] = []
    cursor: str | None = None
    while True:
        page = await asyncio.to_thread(
            book.workflow_inbox.of_workflow, CASE_ORCHESTRATOR, limit=100, next=cursor
        )
        for kept in page.items:
            if kept.action != "start" or not kept.instance_id.startswith(_INSTANCE_PREFIX):
                continue
            case_id = kept.instance_id.removeprefix(_INSTANCE_PREFIX)
            if await asyncio.to_thread(book.dunning.find, case_id) is not None:
                continue
            if await orchestrations.start(CASE_ORCHESTRATOR, kept.instance_id, kept.payload):
                started.append(kept.instance_id)
        if page.next is None:
            return started
        cursor = page.next


def parked_schedule(environ: dict[str, str] | None = None) -> str:
    """The kept starts' timer schedule, read when the app is indexed: the setting, or daily at
    06:15 UTC when it is unset or not a schedule; `off` registers no timer."""
    value = (os.environ if environ is None else environ).get(PARKED_SETTING, "").strip()
    return value if _SCHEDULE.fullmatch(value) else DEFAULT_PARKED_SCHEDULE


PARKED_SCHEDULE = parked_schedule()
if PARKED_SCHEDULE != "off":

    @bp.timer_trigger(schedule=PARKED_SCHEDULE, arg_name="timer", use_monitor=True)
    @bp.durable_client_input(client_name="client")
    async def dunning_parked_starts(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """Starts the dunning cases kept in the WorkflowInbox (daily; nothing once all ran;
        CSPFLOW_DUNNING_PARKED_STARTS_SCHEDULE)."""
        started = await start_parked_cases(book(), DurableOrchestrations(client))
        if started:
            log.info("dunning: started %d kept case(s): %s", len(started), ", ".join(started[:20]))
