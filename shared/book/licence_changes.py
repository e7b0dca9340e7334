"""Licence changes: seats, upgrades, auto-renew and cancellations customers asked for.

Table `LicenceChanges`
    PartitionKey = change id (client-chosen, API conventions), RowKey = ""; columns
    CustomerId, SubscriptionId, Status.
    Serves: a change by its id (the API's status resource; the command check, as for
    orders).

Index `OpenLicenceChanges`
    PartitionKey = subscription id, RowKey = the change's arrival key (the instant the API
    accepted it, to the microsecond, then its id); only while the change is open (received,
    pending approval, applying, scheduled for the next term).
    Serves: a subscription's open changes in arrival order: the subscription's queue (the
    licence change workflow takes the first `received` one), and the renewal workflow's "is
    a change requested or scheduled for this term?": one partition holding only what is
    still open.

Index `PendingApprovals`
    PartitionKey = "pending", RowKey = the arrival key; only while the change waits for the
    partner's approval.
    Serves: `GET /api/approvals?state=pending`, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import Index, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import key
from shared.models.licence_change import LicenceChange
from shared.models.timeline import TimelineEntry

TABLE = "LicenceChanges"
OPEN_TABLE = "OpenLicenceChanges"
PENDING_TABLE = "PendingApprovals"
PENDING = "pending"


def _open_by_subscription(change: LicenceChange) -> Keys | None:
    return (key(change.subscription_id), key(change.arrival_key)) if change.is_open else None


def _pending_approval(change: LicenceChange) -> Keys | None:
    return (PENDING, key(change.arrival_key)) if change.status == "pending_approval" else None


class LicenceChanges(Repository[LicenceChange]):
    model = LicenceChange
    table_name = TABLE
    noun = "licence change"
    indexes = (Index(OPEN_TABLE, _open_by_subscription), Index(PENDING_TABLE, _pending_approval))

    def keys(self, record: LicenceChange) -> Keys:
        return key(record.id), ""

    def columns(self, record: LicenceChange) -> dict[str, Any]:
        return {
            "CustomerId": record.customer_id,
            "SubscriptionId": record.subscription_id,
            "Status": record.status,
        }

    def timeline_entry(self, record: LicenceChange, at: datetime) -> TimelineEntry:
        seats = (
            f"{record.quantity_before} -> {record.quantity_after} seats"
            if record.quantity_before is not None and record.quantity_after is not None
            else _asked(record)
        )
        target = f" to {record.target_catalog_item_id}" if record.target_catalog_item_id else ""
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"licence_change:{record.id}:{record.status}",
            at=at,
            kind="licence_change",
            subject_id=record.subscription_id,
            summary=f"{record.kind} {record.id} on subscription {record.subscription_id}"
            f"{target} ({seats}): {record.status}"
            + (f" ({record.reason})" if record.reason else ""),
        )

    def request(self, change: LicenceChange) -> Recorded[LicenceChange]:
        """Record a new change; the same change again is already done, another change under
        the same id `RecordExists`."""
        return self.ensure(change)

    def find(self, change_id: str) -> Stored[LicenceChange] | None:
        return self._find((key(change_id), ""))

    def get(self, change_id: str) -> Stored[LicenceChange]:
        return self._get((key(change_id), ""))

    def update(
        self, change_id: str, change: Callable[[LicenceChange], LicenceChange]
    ) -> Stored[LicenceChange]:
        return self._update((key(change_id), ""), change)

    def open_for_subscription(self, subscription_id: str) -> list[LicenceChange]:
        """The subscription's open changes, in arrival order."""
        return self._index_page(
            self.indexes[0],
            "PartitionKey eq @pk",
            {"pk": key(subscription_id)},
            1000,
            None,
        ).items

    def next_received(self, subscription_id: str) -> LicenceChange | None:
        """The subscription's first change, in arrival order, still waiting for its turn."""
        cursor: str | None = None
        while True:
            page = self._index_page(
                self.indexes[0],
                "PartitionKey eq @pk",
                {"pk": key(subscription_id)},
                100,
                cursor,
                accept=lambda c: c.status == "received",
            )
            if page.items:
                return page.items[0]
            if page.next is None:
                return None
            cursor = page.next

    def pending_approvals(self, limit: int, next: str | None = None) -> Page[LicenceChange]:
        """Changes waiting for the partner's approval, oldest first."""
        return self._index_page(
            self.indexes[1], "PartitionKey eq @pk", {"pk": PENDING}, limit, next
        )


def _asked(change: LicenceChange) -> str:
    if change.kind == "auto_renew":
        return f"auto-renew {'on' if change.auto_renew else 'off'}"
    if change.kind == "cancel":
        return "cancel"
    if change.change_by is not None:
        return f"{change.change_by:+d} seats"
    return f"to {change.quantity} seats" if change.quantity is not None else "all seats"
