"""The billing run's triggers: `POST /api/ops/billing-runs`, `GET /api/ops/billing-runs/{run_id}`
and the timer `billing_run_timer` (workflows/billing_run.py, docs/billing.md).

A run is one period and billing day: instance `billing-run-<period>-d<day>` and run id
`<period>-d<day>`. A POST (or the timer) while that run is going on joins it; once it has
ended, a POST runs it again, which bills nothing already billed (each customer's invoice is
found in the book or in Stripe), so a run stopped by an outage is finished by starting it
again. The timer starts the run of the billing day that has begun in the partner's time zone
(`CSPFLOW_PARTNER_TIME_ZONE`) and never restarts one that has ended.

The timer's schedule is `CSPFLOW_BILLING_SCHEDULE` (NCRONTAB with seconds, UTC; default
`0 5 * * * *`, five past every hour, so a billing day is seen within the hour it begins in
any time zone), read when the app is indexed; `off` registers no timer (a stack on a virtual
clock).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from shared.book import Book
from shared.clock import app_clock
from shared.config import Settings, get_settings
from shared.errors import TransientError
from shared.models import DomainModel
from shared.models.billing_run import (
    BillingProgress,
    BillingRun,
    BillingRunReport,
    PeriodName,
)
from shared.policy.billing import period_of
from triggers.api import API, Call, NotFound, Reply, Unavailable
from triggers.reads import book
from workflows.billing_run import ORCHESTRATOR, run_instance_id

log = logging.getLogger("cspflow.triggers.billing")
bp = df.Blueprint()

Status = df.OrchestrationRuntimeStatus
ACTIVE = (Status.Pending, Status.Running, Status.ContinuedAsNew, Status.Suspended)
RunState = Literal["running", "completed", "failed", "terminated"]
STATES: dict[Any, RunState] = {
    **dict.fromkeys(ACTIVE, "running"),
    Status.Completed: "completed",
    Status.Failed: "failed",
    Status.Terminated: "terminated",
    Status.Canceled: "terminated",
}
RUN_ID = re.compile(r"^(?P<period>[0-9]{4}-(0[1-9]|1[0-2]))-d(?P<day>0[1-9]|1[0-9]|2[0-8])$")
POLL_AFTER_S = 10
SCHEDULE_SETTING = "CSPFLOW_BILLING_SCHEDULE"
DEFAULT_SCHEDULE = "0 5 * * * *"
_SCHEDULE = re.compile(r"^(off|\S+( \S+){5})$")


class BillingRunRequest(DomainModel):
    period: PeriodName
    billing_day: int = Field(default=1, ge=1, le=28)


class BillingRunStarted(DomainModel):
    run_id: str
    state: RunState
    started: bool


class BillingRunView(DomainModel):
    run_id: str
    state: RunState
    progress: BillingProgress | None = None
    report: BillingRunReport | None = None
    error: str | None = None


def run_input(settings: Settings, period: str, billing_day: int) -> BillingRun:
    return BillingRun(
        period=period,
        billing_day=billing_day,
        partner_country=settings.partner_country,
        page_size=settings.billing_page_size,
        in_flight=settings.billing_in_flight,
    )


async def start_billing_run(
    client: df.DurableOrchestrationClient,
    settings: Settings,
    period: str,
    billing_day: int,
    *,
    again: bool = True,
) -> BillingRunStarted:
    """Start the run of `period` and `billing_day` unless it is going on (then join it) or,
    with `again` false, has run already."""
    billing = run_input(settings, period, billing_day)
    instance = run_instance_id(period, billing_day)
    status = await client.get_status(instance)
    if _active(status):
        return BillingRunStarted(run_id=billing.run_id, state="running", started=False)
    if not again and status is not None and status.runtime_status is not None:
        state = STATES.get(status.runtime_status, "running")
        return BillingRunStarted(run_id=billing.run_id, state=state, started=False)
    try:
        await client.start_new(ORCHESTRATOR, instance, billing.model_dump(mode="json"))
    except Exception:
        # Started by another request (or the timer) between our read and our start: join it.
        if not _active(await client.get_status(instance)):
            raise
        return BillingRunStarted(run_id=billing.run_id, state="running", started=False)
    return BillingRunStarted(run_id=billing.run_id, state="running", started=True)


async def view_billing_run(
    client: df.DurableOrchestrationClient, run_id: str, book: Book
) -> BillingRunView | None:
    """A run's state from its instance, else from the book's copy of its report."""
    match = RUN_ID.fullmatch(run_id)
    if match is None:
        return None
    status = await client.get_status(run_instance_id(match["period"], int(match["day"])))
    if status is not None and status.runtime_status is not None:
        state = STATES.get(status.runtime_status, "running")
        return BillingRunView(
            run_id=run_id,
            state=state,
            progress=_progress(status.custom_status),
            report=BillingRunReport.model_validate(status.output) if state == "completed" else None,
            error=str(status.output)[:2000] if state in ("failed", "terminated") else None,
        )
    stored = await asyncio.to_thread(book.billing_runs.find, run_id)
    if stored is None:
        return None
    return BillingRunView(run_id=run_id, state="completed", report=stored.record)


@API.route(
    bp,
    "POST",
    "ops/billing-runs",
    summary="Bill the customers of a billing day for a period (or run it again)",
    request=BillingRunRequest,
    responses={202: BillingRunStarted},
    durable_client=True,
    tags=("billing",),
)
async def start_billing_run_request(
    call: Call[BillingRunRequest], client: df.DurableOrchestrationClient
) -> Reply:
    """Starts the billing run of `period` (`YYYY-MM`) for the customers billed on
    `billing_day` (default 1), or joins it while it runs. Running it again once it has ended
    bills nothing already billed: each customer's invoice is found and reported
    `already_issued`. `Location` is the run's status; its report lists the invoices issued,
    totals and margin per currency, and every customer skipped or failed with the reason."""
    started = await start_billing_run(
        client, get_settings(), call.body.period, call.body.billing_day
    )
    return Reply.accepted(
        started, location=call.url_for("ops", "billing-runs", started.run_id), retry_after_s=10
    )


@API.route(
    bp,
    "GET",
    "ops/billing-runs/{run_id}",
    summary="A billing run: its progress, then its report",
    responses={200: BillingRunView, 202: BillingRunView},
    problems=(503,),
    durable_client=True,
    tags=("billing",),
)
async def billing_run_status(call: Call[None], client: df.DurableOrchestrationClient) -> Reply:
    """202 with the run's progress while it goes on (poll again after `Retry-After`); 200
    with its report once it has completed, or with the reason it failed. `run_id` is
    `<period>-d<billing day>` (`2027-03-d01`)."""
    run_id = call.route_values.get("run_id", "")
    try:
        view = await view_billing_run(client, run_id, book())
    except TransientError as exc:
        raise Unavailable("storage_unavailable", str(exc), retry_after_s=POLL_AFTER_S) from exc
    if view is None:
        raise NotFound(f"no billing run {run_id!r}", field="run_id")
    if view.state == "running":
        return Reply.accepted(
            view, location=call.url_for("ops", "billing-runs", run_id), retry_after_s=POLL_AFTER_S
        )
    return Reply(200, view)


def billing_day_at(now: datetime, time_zone: str) -> tuple[str, int] | None:
    """The period and billing day that `now` falls on in the partner's time zone; None on
    the 29th to the 31st, which are nobody's billing day."""
    local = now.astimezone(ZoneInfo(time_zone)).date()
    if local.day > 28:
        return None
    return period_of(local), local.day


async def on_timer(
    client: df.DurableOrchestrationClient, settings: Settings, now: datetime
) -> BillingRunStarted | None:
    """The timer's work: start today's run (in the partner's time zone) once."""
    today = billing_day_at(now, settings.partner_time_zone)
    if today is None:
        return None
    started = await start_billing_run(client, settings, *today, again=False)
    if started.started:
        log.info("billing run %s started", started.run_id)
    return started


def billing_schedule(environ: dict[str, str] | None = None) -> str:
    """The timer's schedule, read when the app is indexed: the setting, or the default when
    it is unset or not a schedule (an invalid setting is named by GET /api/health)."""
    value = (os.environ if environ is None else environ).get(SCHEDULE_SETTING, "").strip()
    return value if _SCHEDULE.fullmatch(value) else DEFAULT_SCHEDULE


SCHEDULE = billing_schedule()
if SCHEDULE != "off":

    @bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", use_monitor=True)
    @bp.durable_client_input(client_name="client")
    async def billing_run_timer(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """Starts the billing run of the day that has begun (CSPFLOW_BILLING_SCHEDULE)."""
        settings = get_settings()
        now = await asyncio.to_thread(app_clock(settings).now)
        await on_timer(client, settings, now)


def _active(status: Any) -> bool:
    return status is not None and status.runtime_status in ACTIVE


def _progress(custom_status: Any) -> BillingProgress | None:
    if not isinstance(custom_status, dict):
        return None
    try:
        return BillingProgress.model_validate(custom_status)
    except ValueError:
        return None
