"""The book sync's triggers: `POST /api/ops/book-syncs`, `GET /api/ops/book-syncs/{run_id}`
and the nightly timer `book_sync_nightly` (workflows/book_sync.py, docs/book.md "Sync").

One sync at a time: the orchestration runs as the singleton instance `book-sync`, and each
run has its own id (`<UTC start YYYYMMDDTHHMMSSZ>-<4 hex>`) in the instance's input. A POST
(or the timer) while a run is going on joins it; once it has ended (completed, failed,
terminated), the next POST starts a new run on the same instance. Two starts racing: the
second `start_new` is refused while the first instance runs (host.json
`overridableExistingInstanceStates: NonRunningStates`, as devhost always behaves), and the
loser joins the winner's run.

Each run's status resource is `GET /api/ops/book-syncs/{run_id}` (the Durable status link is
not enough: the instance is reused by the next run, and a run's report outlives it in the
book): while the run goes on, 202 with its progress and `Retry-After`; once it has ended,
200 with its report (kept in the book's `BookSyncs`) or the reason it failed.

The timer's schedule is the setting `CSPFLOW_BOOK_SYNC_SCHEDULE` (NCRONTAB with seconds, UTC;
default `0 0 2 * * *`, 02:00 every night), read when the app is indexed (a decorator
argument); `off` registers no timer (a stack on a virtual clock: a nightly timer would make
the idle clock leap from night to night).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared.book import Book
from shared.clock import app_clock
from shared.config import BOOK_SYNC_SCHEDULE, get_settings
from shared.errors import TransientError
from shared.models.book_sync import (
    BookSyncProgress,
    BookSyncReport,
    BookSyncRun,
    BookSyncStarted,
    BookSyncView,
    RunState,
)
from triggers.api import API, Call, NotFound, Reply, Unavailable
from triggers.reads import book
from workflows.book_sync import INSTANCE_ID, ORCHESTRATOR

log = logging.getLogger("cspflow.triggers.book_sync")
bp = df.Blueprint()

Status = df.OrchestrationRuntimeStatus
ACTIVE = (Status.Pending, Status.Running, Status.ContinuedAsNew, Status.Suspended)
STATES: dict[Any, RunState] = {
    **dict.fromkeys(ACTIVE, "running"),
    Status.Completed: "completed",
    Status.Failed: "failed",
    Status.Terminated: "terminated",
    Status.Canceled: "terminated",
}
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")
POLL_AFTER_S = 10
SCHEDULE_SETTING = "CSPFLOW_BOOK_SYNC_SCHEDULE"
_SCHEDULE = re.compile(r"^(off|\S+( \S+){5})$")


def new_run_id(now: datetime, suffix: str | None = None) -> str:
    """A run's id: its UTC start to the second, and 4 hex digits so two runs started in the
    same second differ."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{suffix or secrets.token_hex(2)}"


async def start_book_sync(
    client: df.DurableOrchestrationClient, now: datetime, *, suffix: str | None = None
) -> BookSyncStarted:
    """Start a run unless one is going on; the run the caller is now following."""
    status = await client.get_status(INSTANCE_ID, show_input=True)
    if _active(status):
        return BookSyncStarted(run_id=_run_id(status), state="running", started=False)
    run_id = new_run_id(now, suffix)
    try:
        await client.start_new(
            ORCHESTRATOR, INSTANCE_ID, BookSyncRun(run_id=run_id).model_dump(mode="json")
        )
    except Exception:
        # Another request (or the timer) started one between our read and our start: join
        # it. Anything else is a real failure.
        status = await client.get_status(INSTANCE_ID, show_input=True)
        if not _active(status):
            raise
        return BookSyncStarted(run_id=_run_id(status), state="running", started=False)
    return BookSyncStarted(run_id=run_id, state="running", started=True)


async def view_book_sync(
    client: df.DurableOrchestrationClient, run_id: str, book: Book
) -> BookSyncView | None:
    """A run's state: from the instance while it is this run's, else from the book's
    record of its report (None: no such run)."""
    if RUN_ID.fullmatch(run_id) is None:
        return None
    status = await client.get_status(INSTANCE_ID, show_input=True)
    if status.runtime_status is not None and _run_id(status) == run_id:
        state = STATES.get(status.runtime_status, "running")
        return BookSyncView(
            run_id=run_id,
            state=state,
            progress=_progress(status.custom_status),
            report=BookSyncReport.model_validate(status.output) if state == "completed" else None,
            error=str(status.output)[:2000] if state in ("failed", "terminated") else None,
        )
    stored = await asyncio.to_thread(book.book_syncs.find, run_id)
    if stored is None:
        return None
    return BookSyncView(run_id=run_id, state="completed", report=stored.record)


@API.route(
    bp,
    "POST",
    "ops/book-syncs",
    summary="Sync the book with Partner Center and Stripe (one run at a time)",
    responses={202: BookSyncStarted},
    durable_client=True,
)
async def start_book_sync_request(call: Call[None], client: df.DurableOrchestrationClient) -> Reply:
    """Starts a run of the book sync, or joins the one going on. `Location` is the run's
    status; its report lists the customers adopted, updated, unchanged, failed, gone from
    Partner Center, linked to Stripe, unlinked and ambiguous."""
    # Off the event loop: a simulation's clock is read over HTTP from this very host.
    now = await asyncio.to_thread(app_clock(get_settings()).now)
    started = await start_book_sync(client, now)
    return Reply.accepted(
        started, location=call.url_for("ops", "book-syncs", started.run_id), retry_after_s=10
    )


@API.route(
    bp,
    "GET",
    "ops/book-syncs/{run_id}",
    summary="A book sync run: its progress, then its report",
    responses={200: BookSyncView, 202: BookSyncView},
    problems=(503,),
    durable_client=True,
)
async def book_sync_status(call: Call[None], client: df.DurableOrchestrationClient) -> Reply:
    """202 with the run's progress while it goes on (poll again after `Retry-After`); 200
    with its report once it has completed, or with the reason it failed or was
    terminated."""
    run_id = call.route_values.get("run_id", "")
    try:
        view = await view_book_sync(client, run_id, book())
    except TransientError as exc:
        raise Unavailable("storage_unavailable", str(exc), retry_after_s=POLL_AFTER_S) from exc
    if view is None:
        raise NotFound(f"no book sync run {run_id!r}", field="run_id")
    if view.state == "running":
        return Reply.accepted(
            view, location=call.url_for("ops", "book-syncs", run_id), retry_after_s=POLL_AFTER_S
        )
    return Reply(200, view)


def nightly_schedule(environ: dict[str, str] | None = None) -> str:
    """The timer's schedule, read when the app is indexed: the setting, or 02:00 UTC when it
    is unset or not a schedule (an invalid setting is named by GET /api/health)."""
    value = (os.environ if environ is None else environ).get(SCHEDULE_SETTING, "").strip()
    return value if _SCHEDULE.fullmatch(value) else BOOK_SYNC_SCHEDULE


async def nightly(client: df.DurableOrchestrationClient, now: datetime) -> BookSyncStarted:
    """The timer's work: start (or join) a run, as a POST does."""
    started = await start_book_sync(client, now)
    log.info(
        "book sync %s: run %s", "started" if started.started else "already running", started.run_id
    )
    return started


SCHEDULE = nightly_schedule()
if SCHEDULE != "off":

    @bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", use_monitor=True)
    @bp.durable_client_input(client_name="client")
    async def book_sync_nightly(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """Starts the book sync every night (CSPFLOW_BOOK_SYNC_SCHEDULE)."""
        now = await asyncio.to_thread(app_clock(get_settings()).now)
        await nightly(client, now)


def _active(status: Any) -> bool:
    return status is not None and status.runtime_status in ACTIVE


def _run_id(status: Any) -> str:
    data = status.input_
    if isinstance(data, str):  # some hosts hand the input back as its JSON text
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    return str(data.get("run_id", "")) if isinstance(data, dict) else ""


def _progress(custom_status: Any) -> BookSyncProgress | None:
    if not isinstance(custom_status, dict):
        return None
    try:
        return BookSyncProgress.model_validate(custom_status)
    except ValueError:
        return None
