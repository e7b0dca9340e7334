"""Licence changes: seat increases, decreases and SKU upgrades customers asked for.

Table `LicenceChanges`
    PartitionKey = change id (client-chosen, API conventions), RowKey = ""; columns
    CustomerId, SubscriptionId, Status.
    Serves: a change by its id (the API's status resource; the command check, as for
    orders).

Index `OpenLicenceChanges`
    PartitionKey = subscription id, RowKey = change id; only while the change is open
    (received, awaiting approval, scheduled for the renewal).
    Serves: a subscription's open changes (the renewal workflow: is a change requested or
    scheduled for this term?): one partition holding only what is still open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import Index, Keys, Recorded, Repository, Stored
from shared.book.keys import key
from shared.models.licence_change import LicenceChange
from shared.models.timeline import TimelineEntry

TABLE = "LicenceChanges"
OPEN_TABLE = "OpenLicenceChanges"


def _open_by_subscription(change: LicenceChange) -> Keys | None:
    return (key(change.subscription_id), key(change.id)) if change.is_open else None


class LicenceChanges(Repository[LicenceChange]):
    model = LicenceChange
    table_name = TABLE
    noun = "licence change"
    indexes = (Index(OPEN_TABLE, _open_by_subscription),)

    def keys(self, record: LicenceChange) -> Keys:
        return key(record.id), ""

    def columns(self, record: LicenceChange) -> dict[str, Any]:
        return {
            "CustomerId": record.customer_id,
            "SubscriptionId": record.subscription_id,
            "Status": record.status,
        }

    def timeline_entry(self, record: LicenceChange, at: datetime) -> TimelineEntry:
        seats = f"{record.quantity_before} -> {record.quantity_after} seats"
        target = f" to {record.target_offer_id}" if record.target_offer_id else ""
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
        """The subscription's open changes, in change id order."""
        return self._index_page(
            self.indexes[0],
            "PartitionKey eq @pk",
            {"pk": key(subscription_id)},
            1000,
            None,
        ).items
