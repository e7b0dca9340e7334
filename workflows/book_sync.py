"""Orchestrator `book_sync`: the book made to agree with Partner Center and linked to Stripe.

How cspflow adopts a partner's existing book on day one, and corrects drift every night
after (docs/book.md, "Sync"). One run:

1. Partner Center's customer list is read a page at a time (`read_customer_page`). Each page
   is one episode of the orchestration: its customers are split into batches, each batch is
   a sub-orchestration (`book_sync_batch`) that syncs its customers (`sync_customer`) a few
   at a time, and all of a page's batches run at once, so at most
   `SyncTuning.max_in_flight` customers are synced at a time (each batch in waves of
   `per_batch`). The next page is read while this one syncs; then the orchestration
   continues as new with it, so its history is one page long whatever the size of the
   book, and each batch's history is one batch long.
2. Once the list has been read to its end: the book's customers Partner Center no longer
   lists are flagged gone (`flag_gone_customers`), then every customer without a Stripe
   customer is linked to the one the rule finds (`link_stripe_customers`,
   docs/rules.md#stripe-link). Both need every customer, so a run whose listing broke off
   does neither, and says so.
3. The report (adopted, updated, unchanged, failed, gone, linked, unlinked, ambiguous, with
   counts and ids) is saved in the book (`record_book_sync`), published as the custom
   status's last state and returned.

A customer whose sync fails is reported with the reason; the others go on. Every step only
writes what differs, so a run with nothing changed writes nothing but its report.

The instance id is `book-sync` (triggers/book_sync.py starts it, a singleton); each run
has its own `run_id`, which names its batches' instances and its steps' keys.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Literal

import azure.durable_functions as df

from activities.book_sync import (
    LinkStripe,
    RecordBookSync,
    SweepGone,
    SyncCustomer,
    flag_gone_customers,
    link_stripe_customers,
    read_customer_page,
    record_book_sync,
    sync_customer,
)
from shared.models.book_sync import (
    BookSyncBatch,
    BookSyncProgress,
    BookSyncReport,
    BookSyncRun,
    GoneSwept,
    PartnerCenterCustomer,
    ReadCustomerPage,
    StripeLinked,
    SyncFailure,
    SyncTotals,
)
from workflows.durable import (
    Outcome,
    call,
    call_sub,
    continue_as_new,
    orchestration,
    read_input,
    run,
    set_status,
    settle_all,
    settle_bounded,
    step_key,
    suborchestrator,
)

bp = df.Blueprint()

INSTANCE_ID = "book-sync"
ProgressState = Literal["syncing", "sweeping", "linking", "done"]


@orchestration(bp)
def book_sync(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    sync = read_input(context, BookSyncRun)
    started_at = sync.started_at or context.current_utc_datetime
    tuning = sync.tuning
    customers, after = sync.customers, sync.after
    if customers is None:  # the first episode reads the first page
        first = yield from run(
            context, read_customer_page, ReadCustomerPage(page_size=tuning.page_size)
        )
        if first.value is None:
            error = f"Partner Center's customer list: {_reason(first)}"
            return (yield from _finish(context, sync, started_at, sync.totals, error))
        customers, after = first.value.customers, first.value.next
    set_status(context, _progress(sync, "syncing", sync.totals))
    ahead = (
        call(context, read_customer_page, ReadCustomerPage(page_size=tuning.page_size, after=after))
        if after is not None
        else None
    )
    batches = [
        customers[i : i + tuning.batch_size] for i in range(0, len(customers), tuning.batch_size)
    ]
    syncs = [
        call_sub(
            context,
            BATCH,
            BookSyncBatch(run_id=sync.run_id, customers=batch, in_flight=tuning.per_batch),
            instance_id=f"{context.instance_id}-{sync.run_id}-p{sync.page:05d}-b{n:03d}",
        )
        for n, batch in enumerate(batches)
    ]
    # The next page is read while this one syncs: one action, settled together.
    outcomes = yield from settle_all(*syncs, *([ahead] if ahead is not None else []))
    totals = sync.totals
    for batch, outcome in zip(batches, outcomes, strict=False):
        totals += outcome.value if outcome.value is not None else _all_failed(batch, outcome)
    if ahead is None:
        return (yield from _finish(context, sync, started_at, totals, None))
    following = outcomes[-1]
    if following.value is None:
        error = f"Partner Center's customer list after page {sync.page + 1}: {_reason(following)}"
        return (yield from _finish(context, sync, started_at, totals, error))
    continue_as_new(
        context,
        sync.model_copy(
            update={
                "started_at": started_at,
                "page": sync.page + 1,
                "customers": following.value.customers,
                "after": following.value.next,
                "totals": totals,
            }
        ),
    )
    return None


@orchestration(bp)
def book_sync_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Sync a batch of customers, `in_flight` at a time; their totals (a customer whose sync
    failed is in `failed`, with the reason)."""
    batch = read_input(context, BookSyncBatch)
    starts = [
        partial(
            call,
            context,
            sync_customer,
            SyncCustomer(
                step_key=step_key(context, f"sync-{customer.tenant_id}"),
                run_id=batch.run_id,
                customer=customer,
            ),
        )
        for customer in batch.customers
    ]
    outcomes = yield from settle_bounded(starts, batch.in_flight)
    synced = [o.value for o in outcomes if o.value is not None]
    failed = [
        SyncFailure(tenant_id=customer.tenant_id, reason=_reason(outcome))
        for customer, outcome in zip(batch.customers, outcomes, strict=True)
        if outcome.value is None
    ]
    return SyncTotals.of(synced, failed).model_dump(mode="json")


BATCH = suborchestrator(book_sync_batch, BookSyncBatch, SyncTotals)
ORCHESTRATOR = book_sync.__name__


def _finish(
    context: df.DurableOrchestrationContext,
    sync: BookSyncRun,
    started_at: datetime,
    totals: SyncTotals,
    error: str | None,
) -> Generator[Any, Any, dict[str, Any]]:
    """Once the list is read (or could not be): sweep and link if it was read to its end,
    then the report."""
    errors = [] if error is None else [error]
    swept: GoneSwept | None = None
    linked: StripeLinked | None = None
    if error is None:
        set_status(context, _progress(sync, "sweeping", totals))
        key = step_key(context, f"sweep-{sync.run_id}")
        sweep = yield from run(
            context, flag_gone_customers, SweepGone(step_key=key, run_id=sync.run_id)
        )
        swept = sweep.value
        if swept is None:
            errors.append(f"flagging customers gone: {_reason(sweep)}")
        set_status(context, _progress(sync, "linking", totals))
        key = step_key(context, f"link-{sync.run_id}")
        link = yield from run(
            context, link_stripe_customers, LinkStripe(step_key=key, run_id=sync.run_id)
        )
        linked = link.value
        if linked is None:
            errors.append(f"linking Stripe customers: {_reason(link)}")
    report = BookSyncReport(
        run_id=sync.run_id,
        started_at=started_at,
        finished_at=context.current_utc_datetime,
        complete=error is None,
        error="; ".join(errors)[:2000] if errors else None,
        pages=sync.page + 1,
        partner_center_customers=(
            swept.partner_center_customers if swept is not None else totals.customers
        ),
        adopted=totals.adopted,
        updated=totals.updated,
        unchanged=totals.unchanged,
        failed=totals.failed,
        failed_count=totals.failed_count,
        subscriptions=totals.subscriptions,
        subscriptions_added=totals.subscriptions_added,
        subscriptions_corrected=totals.subscriptions_corrected,
        subscriptions_gone=totals.subscriptions_gone,
    )
    if swept is not None:
        report = report.model_copy(update={"gone": swept.gone, "newly_gone": swept.newly_gone})
    if linked is not None:
        report = report.model_copy(
            update={
                "linked": linked.linked,
                "already_linked": linked.already_linked,
                "unlinked": linked.unlinked,
                "ambiguous": linked.ambiguous,
                "ambiguous_count": linked.ambiguous_count,
            }
        )
    # The report is the run's output whether or not the book took it.
    yield from run(
        context,
        record_book_sync,
        RecordBookSync(step_key=step_key(context, f"record-{sync.run_id}"), report=report),
    )
    set_status(context, _progress(sync, "done", totals))
    return report.model_dump(mode="json")


def _progress(sync: BookSyncRun, state: ProgressState, totals: SyncTotals) -> BookSyncProgress:
    return BookSyncProgress(
        run_id=sync.run_id,
        state=state,
        pages=sync.page + (0 if state == "syncing" else 1),
        customers=totals.customers,
        failed=totals.failed_count,
    )


def _all_failed(batch: Sequence[PartnerCenterCustomer], outcome: Outcome[Any]) -> SyncTotals:
    """A batch whose sub-orchestration failed: each of its customers failed with it."""
    reason = f"batch: {_reason(outcome)}"
    return SyncTotals.of([], [SyncFailure(tenant_id=c.tenant_id, reason=reason) for c in batch])


def _reason(outcome: Outcome[Any]) -> str:
    return (outcome.failure.describe() if outcome.failure else "no value")[:500]
