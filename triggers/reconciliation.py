"""The reconciliation's triggers (workflows/reconciliation.py, docs/billing.md):

- `POST /api/ops/reconciliations` reconciles a period (or joins the run going on);
- `GET /api/reconciliation/{period}`: the period's summary and its lines, filterable by
  classification and customer, paged;
- `GET /api/reconciliation/{period}/lines.csv`: every line (with the same filters) as CSV,
  the format a finance team loads into a spreadsheet;
- `POST /api/invoices/{invoice_id}/disputes`: a customer's dispute against a line of one of
  its invoices, linked to that line in the reconciliation;
- the monthly timer `reconciliation_monthly` (`CSPFLOW_RECONCILIATION_SCHEDULE`, the 10th at
  06:00 UTC by default: Microsoft publishes the invoice by the 8th) reconciles last month.

Partner Center's `invoice-ready` event starts the same orchestration through event intake.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import re
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from shared.book import Book, RecordExists
from shared.clock import app_clock
from shared.config import get_settings
from shared.models import DomainModel
from shared.models.billing_run import PeriodName
from shared.models.reconciliation import (
    Classification,
    Dispute,
    ReconciledLine,
    ReconciliationSummary,
)
from shared.policy.billing import period_of
from shared.policy.terms import add_months
from triggers.api import API, Call, Conflict, CsvBody, NotFound, Page, Paging, Reply
from triggers.reads import book, now, storage
from workflows.reconciliation import ORCHESTRATOR, Reconcile, period_instance_id

log = logging.getLogger("cspflow.triggers.reconciliation")
bp = df.Blueprint()

LINES_PAGING = Paging(default_limit=100, max_limit=1000)
CSV_LIMIT = 1000  # rows read from the book at a time for the export
TAGS = ("reconciliation",)
PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
SCHEDULE_SETTING = "CSPFLOW_RECONCILIATION_SCHEDULE"
DEFAULT_SCHEDULE = "0 0 6 10 * *"
_SCHEDULE = re.compile(r"^(off|\S+( \S+){5})$")
Status = df.OrchestrationRuntimeStatus
ACTIVE = (Status.Pending, Status.Running, Status.ContinuedAsNew, Status.Suspended)


class ReconcileRequest(DomainModel):
    period: PeriodName


class ReconciliationStarted(DomainModel):
    id: str
    period: str
    started: bool


class LineFilter(DomainModel):
    classification: Classification | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=64)


class ReconciliationView(DomainModel):
    summary: ReconciliationSummary
    lines: Page[ReconciledLine]


class DisputeRequest(DomainModel):
    dispute_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    customer_id: str = Field(min_length=1, max_length=64)
    subscription_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)


CSV_COLUMNS = (
    "period",
    "line_no",
    "classification",
    "reason",
    "customer_id",
    "tenant_id",
    "subscription_id",
    "charge_type",
    "service_start",
    "service_end",
    "microsoft_quantity",
    "microsoft_amount",
    "microsoft_currency",
    "invoice_id",
    "billed_quantity",
    "billed_amount",
    "billed_currency",
    "leakage",
    "over_billed",
    "disputes",
)


def csv_text(lines: list[ReconciledLine]) -> str:
    """The lines as CSV (RFC 4180, a header row, amounts in major units with their currency
    in a column of their own, so a spreadsheet sums them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow(
            [
                line.period,
                line.line_no,
                line.classification,
                line.reason,
                line.customer_id or "",
                line.tenant_id or "",
                line.subscription_id,
                line.charge_type,
                line.service_start or "",
                line.service_end or "",
                "" if line.microsoft_quantity is None else line.microsoft_quantity,
                f"{line.microsoft_amount.to_decimal():f}" if line.microsoft_amount else "",
                line.microsoft_amount.currency if line.microsoft_amount else "",
                line.invoice_id or "",
                "" if line.billed_quantity is None else line.billed_quantity,
                f"{line.billed_amount.to_decimal():f}" if line.billed_amount else "",
                line.billed_amount.currency if line.billed_amount else "",
                f"{line.leakage.to_decimal():f}" if line.leakage else "",
                f"{line.over_billed.to_decimal():f}" if line.over_billed else "",
                " ".join(line.disputes),
            ]
        )
    return out.getvalue()


def _period(call: Call[Any]) -> str:
    period = call.route_values.get("period", "")
    if not PERIOD.fullmatch(period):
        raise NotFound(f"no reconciliation for {period!r} (a period is YYYY-MM)", field="period")
    return period


def _summary(period: str) -> ReconciliationSummary:
    stored = book().reconciliations.find(period)
    if stored is None:
        raise NotFound(f"period {period} has not been reconciled", field="period")
    return stored.record


async def start_reconciliation(
    client: df.DurableOrchestrationClient, period: str
) -> ReconciliationStarted:
    instance = period_instance_id(period)
    status = await client.get_status(instance)
    if status is not None and status.runtime_status in ACTIVE:
        return ReconciliationStarted(id=instance, period=period, started=False)
    try:
        await client.start_new(
            ORCHESTRATOR, instance, Reconcile(period=period).model_dump(mode="json")
        )
    except Exception:
        again = await client.get_status(instance)
        if again is None or again.runtime_status not in ACTIVE:
            raise
        return ReconciliationStarted(id=instance, period=period, started=False)
    return ReconciliationStarted(id=instance, period=period, started=True)


@API.route(
    bp,
    "POST",
    "ops/reconciliations",
    summary="Reconcile a period: Microsoft's invoice against what customers were billed",
    request=ReconcileRequest,
    responses={202: ReconciliationStarted},
    durable_client=True,
    tags=TAGS,
)
async def start_reconciliation_request(
    call: Call[ReconcileRequest], client: df.DurableOrchestrationClient
) -> Reply:
    """Starts (or joins) the reconciliation of `period` against Partner Center's invoice of
    that month; run again, it writes the same lines. `Location` is the period's
    reconciliation, 404 until it is done."""
    started = await start_reconciliation(client, call.body.period)
    return Reply.accepted(
        started, location=call.url_for("reconciliation", call.body.period), retry_after_s=10
    )


@API.route(
    bp,
    "GET",
    "reconciliation/{period}",
    summary="A period's reconciliation: its summary and its lines, filterable",
    query=LineFilter,
    paged=LINES_PAGING,
    responses={200: ReconciliationView},
    problems=(503,),
    tags=TAGS,
)
def get_reconciliation(call: Call[None]) -> ReconciliationView:
    """The summary (lines, matched, counts per classification, `billing_accuracy`, leakage
    per currency and per customer) and the lines in Microsoft's order (then cspflow's
    unmatched ones), filtered by `classification` and `customer_id`. 404 naming `period`
    until the period has been reconciled."""
    period = _period(call)
    wanted: LineFilter = call.query
    with storage():
        summary = _summary(period)
        page = book().reconciled_lines.of_period(
            period,
            classification=wanted.classification,
            customer_id=wanted.customer_id,
            limit=call.page.limit,
            next=call.page.after,
        )
    return ReconciliationView(
        summary=summary, lines=call.page.page(list(page.items), after=page.next)
    )


@API.route(
    bp,
    "GET",
    "reconciliation/{period}/lines.csv",
    summary="A period's reconciliation lines as CSV",
    query=LineFilter,
    responses={200: CsvBody},
    problems=(503,),
    tags=TAGS,
)
def get_reconciliation_csv(call: Call[None]) -> CsvBody:
    """Every line of the period (with the same filters) as CSV: one header row, amounts in
    major units with their currency in the next column."""
    period = _period(call)
    wanted: LineFilter = call.query
    lines: list[ReconciledLine] = []
    with storage():
        _summary(period)
        after: str | None = None
        while True:
            page = book().reconciled_lines.of_period(
                period,
                classification=wanted.classification,
                customer_id=wanted.customer_id,
                limit=CSV_LIMIT,
                next=after,
            )
            lines += page.items
            if (after := page.next) is None:
                break
    return CsvBody(text=csv_text(lines))


@API.route(
    bp,
    "POST",
    "invoices/{invoice_id}/disputes",
    summary="Record a customer's dispute against a line of one of its invoices",
    request=DisputeRequest,
    responses={201: Dispute},
    problems=(503,),
    tags=TAGS,
)
def open_dispute(call: Call[DisputeRequest]) -> Reply:
    """The dispute names the invoice (path: a billing run's invoice, or the Stripe invoice or
    credit note of a charge or credit made outside the run), the customer, and the
    subscription whose line it disputes; `dispute_id` is the client's, so the same dispute sent twice is one (another
    dispute under the same id is 409). The reconciliation of the invoice's period links the
    line to it (`disputes`). 404 naming the field when the invoice or the line is not the
    customer's."""
    body = call.body
    invoice_id = call.route_values.get("invoice_id", "")
    with storage():
        the_book = book()
        dispute = Dispute(
            id=body.dispute_id,
            customer_id=body.customer_id,
            invoice_id=invoice_id,
            subscription_id=body.subscription_id,
            period=_disputed_period(the_book, body.customer_id, invoice_id, body.subscription_id),
            reason=body.reason,
            opened_at=now(),
        )
        existing = the_book.disputes.find_one(dispute.period, dispute.id)
        if existing is not None:
            if existing.model_copy(update={"opened_at": dispute.opened_at}) != dispute:
                raise Conflict(
                    "dispute_exists",
                    f"dispute {dispute.id} exists with another content",
                    field="dispute_id",
                )
            dispute = existing
        else:
            try:
                the_book.disputes.open(dispute)
            except RecordExists as exc:
                raise Conflict("dispute_exists", str(exc), field="dispute_id") from exc
    location = call.url_for("reconciliation", dispute.period)
    return Reply(201, dispute, {"Location": location})


def _disputed_period(
    the_book: Book, customer_id: str, invoice_id: str, subscription_id: str
) -> str:
    """The period of the line disputed: on a billing run's invoice in the book, or a charge
    or credit made outside the run, named by its Stripe invoice or credit note."""
    stored = the_book.invoices.find(customer_id, invoice_id)
    if stored is None:
        charge = the_book.charges.by_stripe_document(customer_id, invoice_id, subscription_id)
        if charge is not None:
            return period_of(charge.period_start.date())
        raise NotFound(f"customer {customer_id} has no invoice {invoice_id!r}", field="invoice_id")
    line = next((x for x in stored.record.lines if x.subscription_id == subscription_id), None)
    if line is None:
        raise NotFound(
            f"invoice {invoice_id} has no line for subscription {subscription_id}",
            field="subscription_id",
        )
    return period_of(line.period_start.date())


def reconciliation_schedule(environ: dict[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(SCHEDULE_SETTING, "").strip()
    return value if _SCHEDULE.fullmatch(value) else DEFAULT_SCHEDULE


def last_month(at: datetime) -> str:
    return period_of(add_months(at.date().replace(day=1), -1))


SCHEDULE = reconciliation_schedule()
if SCHEDULE != "off":

    @bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", use_monitor=True)
    @bp.durable_client_input(client_name="client")
    async def reconciliation_monthly(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """Reconciles last month once Microsoft's invoice is out."""
        at = await asyncio.to_thread(app_clock(get_settings()).now)
        started = await start_reconciliation(client, last_month(at))
        log.info(
            "reconciliation %s: %s", started.period, "started" if started.started else "running"
        )
