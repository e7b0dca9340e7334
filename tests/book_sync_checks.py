"""What the book sync's tests check, wherever the sync ran (activities, devhost, the e2e
stack, the benchmark): the book agrees with Partner Center field for field, and a second run
wrote nothing.

- `mirror_differences(book, partner_center, tenants)`: every difference between the book and
  Partner Center for those customers: the customer (tenant, company name, domain, not
  flagged gone) and each subscription (every field the book mirrors, the same set of ids,
  none flagged gone). Empty when they agree.
- `sync_in_process()`: one run of the real orchestrator on the real activities, in this
  process, one step after another.
- `snapshot(book)`: every entity of the tables a sync writes (customers and their index,
  subscriptions and their index, the timeline) with its ETag: equal before and after a run
  means the run wrote nothing there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from activities.book_sync import (
    flag_gone_customers,
    link_stripe_customers,
    read_customer_page,
    record_book_sync,
    sync_customer,
)
from activities.boundary import Activity
from shared.book import Book
from shared.errors import StepError
from shared.models.book_sync import BookSyncReport
from shared.partner_center import PartnerCenterClient
from tests.orchestrator_driver import ActivityFailed, drive
from workflows.book_sync import BATCH, INSTANCE_ID, book_sync, book_sync_batch

SYNCED_TABLES = (
    "Customers",
    "CustomerKeys",
    "Subscriptions",
    "SubscriptionsByTermEnd",
    "Timeline",
)


def snapshot(book: Book, keep: Callable[[str], bool] | None = None) -> dict[str, str]:
    """`table/PartitionKey/RowKey` -> ETag of every entity a sync can write (those `keep`
    accepts: a test sharing a book with others looks at its own)."""
    found = {}
    for name in SYNCED_TABLES:
        for row in book.tables.table(name).scan("", {}, name):
            where = f"{name}/{row['PartitionKey']}/{row['RowKey']}"
            if keep is None or keep(where):
                found[where] = str(row.metadata["etag"])
    return found


def mirror_differences(
    book: Book, partner_center: PartnerCenterClient, tenants: Iterable[str]
) -> list[str]:
    """Where the book and Partner Center disagree about these customers (none: [])."""
    found: list[str] = []
    listed = {c.id: c for c in partner_center.list_customers(page_size=500)}
    for tenant in tenants:
        read = listed.get(tenant)
        if read is None:
            found.append(f"{tenant}: not in Partner Center")
            continue
        stored = book.customers.by_tenant(tenant)
        if stored is None:
            found.append(f"{tenant}: not in the book")
            continue
        customer = stored.record
        for name, ours, theirs in (
            ("tenant_id", str(customer.tenant_id), read.id),
            ("company_name", customer.company_name, read.company_name),
            ("domain", customer.domain, read.domain),
            ("gone_from_partner_center_at", customer.gone_from_partner_center_at, None),
        ):
            if ours != theirs:
                found.append(f"{tenant}: {name} {ours!r} in the book, {theirs!r} in Partner Center")
        theirs_subs = {s.id: s for s in partner_center.list_subscriptions(tenant)}
        ours_subs = {r.id: r for r in book.subscriptions.of_customer(customer.id, limit=1000).items}
        if set(ours_subs) != set(theirs_subs):
            found.append(f"{tenant}: subscriptions {sorted(ours_subs)} vs {sorted(theirs_subs)}")
        for sid, record in ours_subs.items():
            if sid not in theirs_subs:
                continue
            mine = record.subscription.model_dump(mode="json")
            microsoft = theirs_subs[sid].model_dump(mode="json")
            for field in sorted(set(mine) | set(microsoft)):
                if mine.get(field) != microsoft.get(field):
                    found.append(
                        f"{tenant}/{sid}: {field} {mine.get(field)!r} in the book, "
                        f"{microsoft.get(field)!r} in Partner Center"
                    )
            if record.gone_from_partner_center_at is not None:
                found.append(f"{tenant}/{sid}: flagged gone")
    return found


def sync_in_process(run_id: str = "20260302T090000Z-0001", **tuning: int) -> BookSyncReport:
    """One run of the real orchestrator on the real activities, in this process: steps one
    after the other (tests/orchestrator_driver.py), each called as the Functions host calls
    it, against whatever this process's settings point at (the `app_env` fixture)."""
    outcomes: dict[str, Any] = {
        a.name: _as_host_runs(a)
        for a in (
            read_customer_page,
            sync_customer,
            flag_gone_customers,
            link_stripe_customers,
            record_book_sync,
        )
    }
    outcomes[BATCH.name] = lambda batch: drive(book_sync_batch, outcomes, input=batch).output
    result = drive(
        book_sync,
        outcomes,
        instance_id=INSTANCE_ID,
        input={"run_id": run_id, "tuning": tuning},
    )
    return BookSyncReport.model_validate(result.output)


def _as_host_runs(activity: Activity[Any, Any]) -> Callable[[Any], Any]:
    """The activity's envelope, or, for a failure the boundary raises (transient or
    unexpected, retried by the host), what the orchestrator sees once retries are spent."""

    def outcome(payload: Any) -> Any:
        try:
            return activity.run(payload)
        except StepError as exc:
            return ActivityFailed(str(exc))

    return outcome
