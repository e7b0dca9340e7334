"""Licence changes and their approvals over HTTP (docs/licence-changes.md, docs/api.md).

    POST /api/customers/{customer_id}/subscriptions/{subscription_id}/changes   202 + Location
    GET  /api/changes/{change_id}
    POST /api/approvals/{approval_id}                                          202 + Location
    GET  /api/approvals?state=pending

A change is decided on the book's copy of the subscription first: what the rules refuse
outright (a quantity below 1, a change to a suspended subscription, an offer the subscription
cannot move to, a cancellation after the window) is a 422 naming the field and the rule
(`code` the docs/rules.md anchor, `rule` its link), before anything starts. An accepted change
is recorded in the book (status `received`, stamped with the instant it arrived: its place in
the subscription's queue), then the subscription's queue instance is started, or woken with
the `wake` event (workflows/licence_change.py). The workflow decides again on Partner Center's
fresh read when the change's turn comes. `change_id` is the command id: the same request
again answers as the first time.

The approval id is the change's id: `POST /api/approvals/{approval_id}` raises the decision
to the change's instance; a change not waiting for approval is a 409.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import azure.durable_functions as df
from pydantic import Field, model_validator

from shared.book import Book, RecordExists
from shared.models import DomainModel, Money, UtcDateTime
from shared.models.catalog import CatalogItemId
from shared.models.licence_change import Approval, ChangeKind, ChangeStatus, LicenceChange
from shared.policy.licence_change import intake_refusal
from triggers.api import API, ApiProblem, Call, CommandId, Conflict, NotFound, Reply
from triggers.api.paging import Page, Paging
from triggers.api.problems import field_error
from triggers.reads import book, customer_or_404, now, storage, subscription_or_404
from workflows.licence_change import (
    APPROVAL,
    WAKE,
    QueueInput,
    change_instance_id,
    licence_change_queue,
    queue_instance_id,
)

bp = df.Blueprint()
log = logging.getLogger("cspflow.licence_changes")

RULES = "docs/rules.md#"
TAGS = ("licence changes",)
APPROVALS_PAGING = Paging(default_limit=50, max_limit=200)
Status = df.OrchestrationRuntimeStatus
ACTIVE = (Status.Pending, Status.Running, Status.ContinuedAsNew, Status.Suspended)
NO_WINDOW_AFTER_UPGRADE = (
    "an upgrade applies at once and cannot be undone: no cancellation window applies "
    "afterwards (docs/rules.md#upgrade)"
)


class ChangeRequest(DomainModel):
    """A licence change. `quantity` is the seats wanted, or `change_by` the seats to add (+)
    or remove (-); an upgrade names `target_catalog_item_id` (and `quantity` for a partial
    one); an auto-renew change `auto_renew`."""

    change_id: CommandId
    kind: ChangeKind
    quantity: int | None = Field(default=None, ge=0, le=1_000_000)
    change_by: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    target_catalog_item_id: CatalogItemId | None = None
    auto_renew: bool | None = None
    requested_by: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> ChangeRequest:
        if self.kind == "quantity" and (self.quantity is None) == (self.change_by is None):
            raise ValueError("a quantity change gives quantity or change_by, exactly one")
        if self.kind == "quantity" and self.change_by == 0:
            raise ValueError("change_by adds or removes at least one seat")
        if self.kind != "quantity" and self.change_by is not None:
            raise ValueError("change_by is for quantity changes only")
        if (self.kind == "upgrade") != (self.target_catalog_item_id is not None):
            raise ValueError("target_catalog_item_id is given for an upgrade, and only then")
        if (self.kind == "auto_renew") != (self.auto_renew is not None):
            raise ValueError("auto_renew is given for an auto_renew change, and only then")
        if self.kind in ("auto_renew", "cancel") and self.quantity is not None:
            raise ValueError(f"a {self.kind} change takes no quantity")
        return self


class ChangeAccepted(DomainModel):
    change_id: str
    status: ChangeStatus
    notes: list[str] = Field(description="What the customer should know before it applies")


class SlaClockOut(DomainModel):
    phase: str
    started_at: UtcDateTime
    deadline: UtcDateTime
    completed_at: UtcDateTime | None


class ChangeView(DomainModel):
    change_id: str
    customer_id: str
    subscription_id: str
    kind: ChangeKind
    status: ChangeStatus
    requested_by: str
    requested_at: UtcDateTime
    quantity_before: int | None
    quantity_after: int | None
    effective: UtcDateTime | None = Field(
        description="When it took effect (applied), or takes effect (the next term's start)"
    )
    charge: Money | None = Field(description="Charged (positive) or credited (negative)")
    rule: str | None = Field(description="The docs/rules.md rule that decided it")
    reason: str | None = Field(description="What the rule means here, e.g. until when")
    approval: Approval | None
    invoice_id: str | None
    credit_note_id: str | None
    new_subscription_id: str | None
    sla_clock: SlaClockOut | None


class ApprovalDecisionIn(DomainModel):
    decision: Literal["approve", "reject"]
    by: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class ApprovalAccepted(DomainModel):
    approval_id: str
    decision: Literal["approve", "reject"]


class ApprovalsQuery(DomainModel):
    state: Literal["pending"] = "pending"


class PendingApproval(DomainModel):
    approval_id: str
    change_id: str
    customer_id: str
    subscription_id: str
    kind: ChangeKind
    requested_by: str
    requested_at: UtcDateTime
    why: str | None
    decide_by: UtcDateTime | None


# -- POST a change ------------------------------------------------------------------------------


@API.route(
    bp,
    "POST",
    "customers/{customer_id}/subscriptions/{subscription_id}/changes",
    summary="Ask for a licence change: seats, upgrade, auto-renew or cancel",
    request=ChangeRequest,
    responses={202: ChangeAccepted},
    command_id="change_id",
    problems=(404, 409, 422, 503),
    durable_client=True,
    tags=TAGS,
)
async def request_licence_change(
    call: Call[ChangeRequest], client: df.DurableOrchestrationClient
) -> Reply:
    """Refused outright (422, naming the field and the rule) when the rules allow it in no
    case; otherwise recorded and queued behind the subscription's earlier changes. Poll
    `Location`."""
    body = call.body
    customer_id = call.route_values["customer_id"]
    subscription_id = call.route_values["subscription_id"]
    change = await asyncio.to_thread(_accept, customer_id, subscription_id, body)
    await wake_queue(client, subscription_id)
    notes = [NO_WINDOW_AFTER_UPGRADE] if body.kind == "upgrade" else []
    return Reply.accepted(
        ChangeAccepted(change_id=change.id, status=change.status, notes=notes),
        location=call.url_for("changes", change.id),
    )


def _accept(customer_id: str, subscription_id: str, body: ChangeRequest) -> LicenceChange:
    with storage():
        customer_or_404(customer_id)
        record = subscription_or_404(customer_id, subscription_id)
        at = now()
        refusal = intake_refusal(
            record.subscription,
            at,
            kind=body.kind,
            quantity=body.quantity,
            change_by=body.change_by,
            upgrade_allowed=_upgrade_allowed(book(), customer_id, record, body),
            max_quantity=_max_quantity(book(), customer_id, record),
        )
        if refusal is not None:
            raise ApiProblem(
                422,
                refusal.rule,
                refusal.detail,
                errors=[field_error(refusal.field, refusal.detail)],
                extra={"rule": RULES + refusal.rule},
            )
        change = LicenceChange(
            id=body.change_id,
            customer_id=customer_id,
            subscription_id=subscription_id,
            kind=body.kind,
            quantity=body.quantity,
            change_by=body.change_by,
            target_catalog_item_id=body.target_catalog_item_id,
            auto_renew=body.auto_renew,
            requested_by=body.requested_by,
            requested_at=at,
        )
        existing = book().licence_changes.find(change.id)
        if existing is not None:
            # A repeat whose first answer was not recorded: the change it recorded.
            if existing.record.subscription_id != subscription_id:
                raise Conflict("change_id_reused", "the change id names another change")
            return existing.record
        try:
            return book().licence_changes.request(change).record
        except RecordExists as exc:
            raise Conflict("change_id_reused", str(exc), field="change_id") from exc


def _upgrade_allowed(
    the_book: Book, customer_id: str, record: Any, body: ChangeRequest
) -> bool | None:
    """Whether the target is a higher rank of the subscription's family in the book's
    catalogue (None: the catalogue cannot tell; the workflow asks Partner Center)."""
    if body.kind != "upgrade" or body.target_catalog_item_id is None:
        return None
    customer = the_book.customers.find(customer_id)
    if customer is None or customer.record.country is None:
        return None
    sub = record.subscription
    country, currency = customer.record.country, customer.record.billing_currency
    current = the_book.offers.find(
        country, currency, sub.offer_id, sub.term_duration, sub.billing_cycle
    )
    target = the_book.offers.find(
        country, currency, body.target_catalog_item_id, sub.term_duration, sub.billing_cycle
    )
    if current is None or target is None:
        return None
    return current.family == target.family and target.rank > current.rank


def _max_quantity(the_book: Book, customer_id: str, record: Any) -> int | None:
    """The most seats one subscription of its offer may hold, from the book's catalogue
    (docs/rules.md#seat-limits); None when the catalogue does not say."""
    customer = the_book.customers.find(customer_id)
    if customer is None or customer.record.country is None:
        return None
    sub = record.subscription
    offer = the_book.offers.find(
        customer.record.country,
        customer.record.billing_currency,
        sub.offer_id,
        sub.term_duration,
        sub.billing_cycle,
    )
    return None if offer is None else offer.max_quantity


async def wake_queue(client: df.DurableOrchestrationClient, subscription_id: str) -> None:
    """Start the subscription's queue, or wake it: the change is in the book already, so a
    wake lost while the queue was busy is harmless (it reads the book before it waits)."""
    instance_id = queue_instance_id(subscription_id)
    status = await client.get_status(instance_id)
    if status is None or status.runtime_status not in ACTIVE:
        try:
            await client.start_new(
                licence_change_queue.__name__,
                instance_id,
                QueueInput(subscription_id=subscription_id).model_dump(mode="json"),
            )
            return
        except Exception:
            # Another request started it first: wake that one. Anything else is real.
            status = await client.get_status(instance_id)
            if status is None or status.runtime_status not in ACTIVE:
                raise
    await client.raise_event(instance_id, WAKE, {"subscription_id": subscription_id})


# -- GET a change -------------------------------------------------------------------------------


@API.route(
    bp,
    "GET",
    "changes/{change_id}",
    summary="A licence change: its status, when it takes effect, its charge or credit, why",
    responses={200: ChangeView},
    problems=(404, 503),
    tags=TAGS,
)
def get_licence_change(call: Call[None]) -> ChangeView:
    change_id = call.route_values["change_id"]
    with storage():
        change = _find(change_id)
        clock = book().sla_clocks.find("licence_change", change.id)
    return ChangeView(
        change_id=change.id,
        customer_id=change.customer_id,
        subscription_id=change.subscription_id,
        kind=change.kind,
        status=change.status,
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        quantity_before=change.quantity_before,
        quantity_after=change.quantity_after,
        effective=change.effective_at,
        charge=change.charge,
        rule=RULES + change.rule if change.rule else None,
        reason=change.reason,
        approval=change.approval,
        invoice_id=change.invoice_id,
        credit_note_id=change.credit_note_id,
        new_subscription_id=change.new_subscription_id,
        sla_clock=None
        if clock is None
        else SlaClockOut(
            phase=clock.record.phase,
            started_at=clock.record.started_at,
            deadline=clock.record.deadline,
            completed_at=clock.record.completed_at,
        ),
    )


def _find(change_id: str) -> LicenceChange:
    stored = None
    if 0 < len(change_id) <= 100 and all(ch.isalnum() or ch in "._:-" for ch in change_id):
        stored = book().licence_changes.find(change_id)
    if stored is None:
        raise NotFound(f"there is no licence change {change_id[:100]!r}", field="change_id")
    return stored.record


# -- approvals ----------------------------------------------------------------------------------


@API.route(
    bp,
    "POST",
    "approvals/{approval_id}",
    summary="Approve or reject a licence change waiting for the partner's approval",
    request=ApprovalDecisionIn,
    responses={202: ApprovalAccepted},
    problems=(404, 409, 503),
    durable_client=True,
    tags=TAGS,
)
async def decide_approval(
    call: Call[ApprovalDecisionIn], client: df.DurableOrchestrationClient
) -> Reply:
    """The decision goes to the change's workflow; the change's status says what followed."""
    approval_id = call.route_values["approval_id"]

    def pending() -> LicenceChange:
        with storage():
            return _find(approval_id)

    try:
        change = await asyncio.to_thread(pending)
    except NotFound as exc:
        raise NotFound(f"there is no approval {approval_id[:100]!r}", field="approval_id") from exc
    if change.status != "pending_approval":
        raise Conflict(
            "not_pending",
            f"change {change.id} is {change.status}, not waiting for approval",
            field="approval_id",
        )
    await client.raise_event(
        change_instance_id(change.id),
        APPROVAL,
        call.body.model_dump(mode="json"),
    )
    return Reply.accepted(
        ApprovalAccepted(approval_id=change.id, decision=call.body.decision),
        location=call.url_for("changes", change.id),
    )


@API.route(
    bp,
    "GET",
    "approvals",
    summary="Licence changes waiting for the partner's approval, oldest first",
    query=ApprovalsQuery,
    paged=APPROVALS_PAGING,
    responses={200: Page[PendingApproval]},
    problems=(503,),
    tags=TAGS,
)
def list_approvals(call: Call[None]) -> Page[Any]:
    with storage():
        page = book().licence_changes.pending_approvals(call.page.limit, call.page.after)
    return call.page.page(
        [
            PendingApproval(
                approval_id=c.id,
                change_id=c.id,
                customer_id=c.customer_id,
                subscription_id=c.subscription_id,
                kind=c.kind,
                requested_by=c.requested_by,
                requested_at=c.requested_at,
                why=c.approval.why if c.approval else None,
                decide_by=c.approval.decide_by if c.approval else None,
            )
            for c in page.items
        ],
        after=page.next,
    )
