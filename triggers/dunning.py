"""Dunning cases from the outside (docs/dunning.md, docs/api.md):

- `GET /api/dunning?state=open`: the open cases, in invoice id order, paged (the book's
  `OpenDunningCases` index: one partition holding only what is open);
- `GET /api/dunning/{invoice_id}`: one case (open or closed) with its attempts, notices,
  history and the next step with its date.

Cases are started by event intake (`invoice.payment_failed`, triggers/queues/routing.py),
never through the API.
"""

from __future__ import annotations

import re
from typing import Literal

import azure.durable_functions as df
from pydantic import Field

from shared.book import InvalidKey
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
from triggers.api import API, Call, NotFound
from triggers.api.paging import Page, Paging
from triggers.reads import book, storage, valid_id

bp = df.Blueprint()

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
