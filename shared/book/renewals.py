"""Renewals: one per subscription term end, from the first reminder to the outcome.

Table `Renewals`
    PartitionKey = subscription id, RowKey = term end (fixed-width UTC instant); columns
    CustomerId, Outcome.
    Serves: the renewal of one term (point read, by the same business key as the renewal
    workflow's instance id: subscription id + term end, so a second sweep finds the same
    renewal); a subscription's renewals in term order (one partition, paged).
    What is due for renewal is found through the subscriptions' term-end index
    (shared/book/subscriptions.py), not here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import instant_key, key, unkey
from shared.models.renewal import Renewal
from shared.models.timeline import TimelineEntry

TABLE = "Renewals"


class Renewals(Repository[Renewal]):
    model = Renewal
    table_name = TABLE
    noun = "renewal"

    def keys(self, record: Renewal) -> Keys:
        return key(record.subscription_id), instant_key(record.term_end)

    def columns(self, record: Renewal) -> dict[str, Any]:
        return {"CustomerId": record.customer_id, "Outcome": record.outcome or ""}

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        return f"renewal of subscription {keys[0]} at {keys[1]} (table {self.table.name})"

    def timeline_entry(self, record: Renewal, at: datetime) -> TimelineEntry | None:
        term = f"term ending {instant_key(record.term_end)}"
        state: str
        if record.outcome is not None:
            state, summary = record.outcome, f"{record.outcome}"
        elif record.decision is not None:
            state = "decided"
            summary = f"decision {record.decision} by {record.decided_by}"
        else:
            return None  # reminders are on the timeline as the notices they are
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"renewal:{record.subscription_id}:{instant_key(record.term_end)}:{state}",
            at=at,
            kind="renewal",
            subject_id=record.subscription_id,
            summary=f"renewal of subscription {record.subscription_id} ({term}): {summary}",
        )

    def open(self, renewal: Renewal) -> Recorded[Renewal]:
        """The renewal of this term: the one in the book if it was opened before (already
        done, whatever it holds by now), else `renewal`."""
        return self._get_or_add(renewal)

    def find(self, subscription_id: str, term_end: datetime) -> Stored[Renewal] | None:
        return self._find((key(subscription_id), instant_key(term_end)))

    def get(self, subscription_id: str, term_end: datetime) -> Stored[Renewal]:
        return self._get((key(subscription_id), instant_key(term_end)))

    def update(
        self, subscription_id: str, term_end: datetime, change: Callable[[Renewal], Renewal]
    ) -> Stored[Renewal]:
        return self._update((key(subscription_id), instant_key(term_end)), change)

    def of_subscription(
        self, subscription_id: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[Renewal]:
        """The subscription's renewals, oldest term first."""
        return self._page("PartitionKey eq @pk", {"pk": key(subscription_id)}, limit, next)
