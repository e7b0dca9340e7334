"""Orchestrators `billing_run` and `bill_customer`: every customer billed once per period.

One run bills the customers whose billing day it is (docs/billing.md):

1. The book's customers are read a page at a time (`list_due_customers`); each page is one
   episode of the run, which then continues as new with the next page and its running
   totals, so the run's history is one page long whatever the size of the book.
2. Each due customer is billed by its own orchestration, `bill_customer`, whose instance id
   is `billing-<customer id>-<period>`: at most `in_flight` at a time, a cap that keeps
   Stripe's request rate under its limits (a 429 is a transient failure: the step is
   retried after its interval, with the same idempotency keys). The page's customers are
   dealt round-robin into `in_flight` lanes (`billing_lane`, a sub-orchestration each) that
   bill their customers one after another, all lanes at once: a lane starts its next
   customer the moment the last one is done. (Waves of `in_flight` customers, the only
   bounded fan-out one orchestrator can yield, wait for each wave's slowest customer;
   measured in bench/billing.py.)
3. `bill_customer` plans the invoice from the book (`plan_customer_invoice`, pure policy in
   shared/policy/billing.py), issues and collects it (`issue_invoice`, retried by the
   standard policy when Stripe is unreachable), sends the invoice notice with the link to
   Stripe's hosted invoice page (`send_notice`, kind `invoice_issued`) and records what it
   did (`record_customer_billed`). A customer whose invoice failed for a technical reason after
   its retries, or who cannot be billed (no Stripe customer, a price below cost), is on the
   run's report with the reason: never silently skipped.
4. The report (invoices issued, totals and margin per currency, customers skipped with the
   reason) is saved (`record_billing_run`), published as the last custom status and
   returned.

A rerun of the period bills nothing new: the customer's invoice is found in the book
(`already_issued`), or in Stripe by its metadata, and every Stripe write carries an
idempotency key derived from `billing-<customer>-<period>/issue`. A host killed mid-run
resumes from its history: the customers billed are not billed again.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.billing import (
    IssueInvoice,
    ListDueCustomers,
    PlanCustomerInvoice,
    RecordBillingRun,
    RecordCustomerBilled,
    issue_invoice,
    list_due_customers,
    plan_customer_invoice,
    record_billing_run,
    record_customer_billed,
)
from activities.notifications import SendNotice, send_notice
from shared.models.billing_run import (
    BillCustomer,
    BillingLane,
    BillingLaneResult,
    BillingProgress,
    BillingRun,
    BillingRunReport,
    BillingTotals,
    CustomerBilled,
)
from shared.notifications.kinds import InvoiceIssued
from workflows.durable import (
    Outcome,
    call_sub,
    continue_as_new,
    orchestration,
    read_input,
    run,
    set_status,
    settle,
    settle_all,
    step_key,
    suborchestrator,
)

bp = df.Blueprint()


def run_instance_id(period: str, billing_day: int) -> str:
    return f"billing-run-{period}-d{billing_day:02d}"


def customer_instance_id(customer_id: str, period: str) -> str:
    return f"billing-{customer_id}-{period}"


def lane_instance_id(run_instance_id: str, page: int, lane: int) -> str:
    return f"{run_instance_id}-p{page}-lane{lane:03d}"


@orchestration(bp)
def billing_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    billing = read_input(context, BillingRun)
    started_at = billing.started_at or context.current_utc_datetime
    set_status(context, _progress(billing, "billing", billing.totals))
    page = yield from run(
        context,
        list_due_customers,
        ListDueCustomers(
            billing_day=billing.billing_day, page_size=billing.page_size, after=billing.after
        ),
    )
    if page.value is None:
        error = f"the book's customers after {billing.after or 'the start'}: {_reason(page)}"
        return (yield from _finish(context, billing, started_at, billing.totals, error))
    ids = page.value.customer_ids
    lanes = [tuple(ids[n :: billing.in_flight]) for n in range(min(billing.in_flight, len(ids)))]
    outcomes = yield from settle_all(
        *(
            call_sub(
                context,
                LANE,
                BillingLane(
                    run_id=billing.run_id,
                    period=billing.period,
                    partner_country=billing.partner_country,
                    customer_ids=lane,
                ),
                instance_id=lane_instance_id(context.instance_id, billing.page, n),
            )
            for n, lane in enumerate(lanes)
        )
    )
    billed: dict[str, CustomerBilled] = {}
    for lane, outcome in zip(lanes, outcomes, strict=True):
        if outcome.value is not None:
            billed |= {b.customer_id: b for b in outcome.value.billed}
        else:  # a lane is a loop over sub-orchestrations: a failure here is a bug, reported
            billed |= {c: _failed(billing.run_id, c, "billing lane", outcome) for c in lane}
    totals = billing.totals
    for customer_id in ids:
        totals = totals.add(billed[customer_id])
    if page.value.next is None:
        return (yield from _finish(context, billing, started_at, totals, None))
    continue_as_new(
        context,
        billing.model_copy(
            update={
                "started_at": started_at,
                "after": page.value.next,
                "page": billing.page + 1,
                "totals": totals,
            }
        ),
    )
    return None


@orchestration(bp)
def billing_lane(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One lane of a page: its customers' `bill_customer` orchestrations, one after another."""
    lane = read_input(context, BillingLane)
    billed: list[CustomerBilled] = []
    for customer_id in lane.customer_ids:
        outcome = yield from settle(
            call_sub(
                context,
                CUSTOMER,
                BillCustomer(
                    run_id=lane.run_id,
                    period=lane.period,
                    customer_id=customer_id,
                    partner_country=lane.partner_country,
                ),
                instance_id=customer_instance_id(customer_id, lane.period),
            )
        )
        billed.append(
            outcome.value
            if outcome.value is not None
            else _failed(lane.run_id, customer_id, "billing orchestration", outcome)
        )
    return BillingLaneResult(billed=tuple(billed)).model_dump(mode="json")


def _failed(run_id: str, customer_id: str, what: str, outcome: Outcome[Any]) -> CustomerBilled:
    return CustomerBilled(
        run_id=run_id,
        customer_id=customer_id,
        outcome="failed",
        reason=f"{what}: {_reason(outcome)}",
    )


@orchestration(bp)
def bill_customer(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One customer's invoice for one period: planned, issued, collected, recorded."""
    ask = read_input(context, BillCustomer)
    billed = yield from _bill(context, ask)
    yield from run(
        context,
        record_customer_billed,
        RecordCustomerBilled(step_key=step_key(context, "record"), billed=billed),
    )
    return billed.model_dump(mode="json")


def _bill(
    context: df.DurableOrchestrationContext, ask: BillCustomer
) -> Generator[Any, Any, CustomerBilled]:
    def outcome(kind: str, reason: str | None = None) -> CustomerBilled:
        return CustomerBilled(
            run_id=ask.run_id,
            customer_id=ask.customer_id,
            outcome=kind,  # type: ignore[arg-type]
            reason=reason,
        )

    planned = yield from run(
        context,
        plan_customer_invoice,
        PlanCustomerInvoice(
            run_id=ask.run_id,
            period=ask.period,
            customer_id=ask.customer_id,
            partner_country=ask.partner_country,
        ),
    )
    if planned.value is None:
        return outcome("failed", f"planning the invoice: {_reason(planned)}")
    if planned.value.already is not None:
        return planned.value.already.model_copy(update={"run_id": ask.run_id})
    plan = planned.value.plan
    if planned.value.skip_reason is not None:
        return outcome("skipped", planned.value.skip_reason)
    if plan is None or not plan.lines or planned.value.stripe_customer_id is None:
        billed = outcome("nothing_to_bill")
        return billed.model_copy(update={"not_billed": plan.not_billed if plan else ()})
    issued = yield from run(
        context,
        issue_invoice,
        IssueInvoice(
            step_key=step_key(context, "issue"),
            run_id=ask.run_id,
            plan=plan,
            stripe_customer_id=planned.value.stripe_customer_id,
        ),
    )
    if issued.value is None:
        return outcome("failed", f"issuing invoice {plan.invoice_id}: {_reason(issued)}")
    billed = issued.value
    if billed.hosted_invoice_url and planned.value.contacts and billed.total is not None:
        notice = InvoiceIssued(
            customer_name=planned.value.customer_name or ask.customer_id,
            invoice_number=plan.invoice_id,
            period=plan.period,
            total=billed.total,
            collection="due" if plan.collection == "send_invoice" else "charged",
            due_at=(
                context.current_utc_datetime + timedelta(days=plan.days_until_due or 0)
                if plan.collection == "send_invoice"
                else None
            ),
            invoice_url=billed.hosted_invoice_url,  # type: ignore[arg-type]
        )
        sent = yield from run(
            context,
            send_notice,
            SendNotice(
                step_key=step_key(context, "notice"),
                notice=notice,
                customer_id=ask.customer_id,
                contacts=planned.value.contacts,
            ),
        )
        # A notice that could not be sent does not undo the invoice: it is on the report.
        billed = billed.model_copy(update={"notified": sent.value is not None})
    return billed


CUSTOMER = suborchestrator(bill_customer, BillCustomer, CustomerBilled)
LANE = suborchestrator(billing_lane, BillingLane, BillingLaneResult)
ORCHESTRATOR = billing_run.__name__


def _finish(
    context: df.DurableOrchestrationContext,
    billing: BillingRun,
    started_at: Any,
    totals: BillingTotals,
    error: str | None,
) -> Generator[Any, Any, dict[str, Any]]:
    report = BillingRunReport(
        run_id=billing.run_id,
        period=billing.period,
        billing_day=billing.billing_day,
        started_at=started_at,
        finished_at=context.current_utc_datetime,
        complete=error is None,
        error=error[:2000] if error else None,
        pages=billing.page + 1,
        totals=totals,
    )
    # The report is the run's output whether or not the book took it.
    yield from run(
        context,
        record_billing_run,
        RecordBillingRun(step_key=step_key(context, f"record-{billing.run_id}"), report=report),
    )
    set_status(context, _progress(billing, "done", totals))
    return report.model_dump(mode="json")


def _progress(billing: BillingRun, state: str, totals: BillingTotals) -> BillingProgress:
    return BillingProgress(
        run_id=billing.run_id,
        state=state,  # type: ignore[arg-type]
        pages=billing.page + (0 if state == "billing" else 1),
        customers=totals.customers,
        issued=totals.issued,
    )


def _reason(outcome: Outcome[Any]) -> str:
    return (outcome.failure.describe() if outcome.failure else "no value")[:500]
