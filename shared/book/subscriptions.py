"""Subscriptions: Partner Center's mirror of each NCE subscription, plus what only cspflow
knows about it (sell price, Stripe subscription item, seat batches).

Table `Subscriptions`
    PartitionKey = customer id, RowKey = subscription id; columns Status, OfferId, TermEnd.
    Serves: one subscription (point read); a customer's subscriptions (one partition, paged).

Index `SubscriptionsByTermEnd`
    PartitionKey = the UTC day the term ends (`YYYY-MM-DD` of `Subscription.term_end`, which
    is Partner Center's `commitmentEndDateTime` when given), RowKey = subscription id;
    column TermEnd (for people reading the table; queries go by the keys).
    Serves: subscriptions whose term ends in a window (the renewal sweep: the next N days):
    a PartitionKey range over the window's days, so the sweep's cost follows what is due,
    not the size of the book; each row is checked against its record, which also makes the
    window exact to the instant on its first and last day. Kept on every write: a subscription is indexed while it can
    still renew (not deleted, expired or disabled), and a write that moves its term end
    moves its row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Index, Keys, Page, Repository, Stored
from shared.book.keys import day_key, key, unkey
from shared.models.subscription import SubscriptionRecord

TABLE = "Subscriptions"
TERM_END_TABLE = "SubscriptionsByTermEnd"
# Statuses a term end still matters for: it can renew, or the customer can still decide.
RENEWABLE = frozenset({"active", "suspended", "pending", "none"})
DUE_SOON_DAYS = 60


def _by_term_end(record: SubscriptionRecord) -> Keys | None:
    if record.subscription.status not in RENEWABLE:
        return None
    return day_key(record.term_end), key(record.id)


def _term_end_columns(record: SubscriptionRecord) -> dict[str, Any]:
    return {"TermEnd": record.term_end}


class Subscriptions(Repository[SubscriptionRecord]):
    model = SubscriptionRecord
    table_name = TABLE
    noun = "subscription"
    indexes = (Index(TERM_END_TABLE, _by_term_end, _term_end_columns),)

    def keys(self, record: SubscriptionRecord) -> Keys:
        return key(record.customer_id), key(record.id)

    def columns(self, record: SubscriptionRecord) -> dict[str, Any]:
        sub = record.subscription
        return {"Status": sub.status, "OfferId": sub.offer_id, "TermEnd": record.term_end}

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        customer_id, subscription_id = keys
        return f"subscription {subscription_id} of customer {customer_id} (table {self.table.name})"

    def find(self, customer_id: str, subscription_id: str) -> Stored[SubscriptionRecord] | None:
        return self._find((key(customer_id), key(subscription_id)))

    def get(self, customer_id: str, subscription_id: str) -> Stored[SubscriptionRecord]:
        return self._get((key(customer_id), key(subscription_id)))

    def update(
        self,
        customer_id: str,
        subscription_id: str,
        change: Callable[[SubscriptionRecord], SubscriptionRecord],
    ) -> Stored[SubscriptionRecord]:
        return self._update((key(customer_id), key(subscription_id)), change)

    def of_customer(
        self, customer_id: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[SubscriptionRecord]:
        """A customer's subscriptions, in subscription id order."""
        return self._page("PartitionKey eq @pk", {"pk": key(customer_id)}, limit, next)

    def due(
        self,
        start: datetime,
        end: datetime,
        *,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[SubscriptionRecord]:
        """Subscriptions whose term ends in [start, end), in term-end day order. A cursor
        continues the same window: a sweep fixes its window once and pages through it."""
        if end <= start:
            raise ValueError("the window ends after it starts")
        return self._index_page(
            self.indexes[0],
            "PartitionKey ge @first and PartitionKey le @last",
            {"first": day_key(start), "last": day_key(end)},
            limit,
            next,
            accept=lambda record: start <= record.term_end < end,
        )

    def due_within(
        self,
        now: datetime,
        days: int = DUE_SOON_DAYS,
        *,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[SubscriptionRecord]:
        """Subscriptions whose term ends within `days` days of `now`."""
        return self.due(now, now + timedelta(days=days), limit=limit, next=next)

    def ending_on(self, day: date, subscription_id: str) -> Stored[SubscriptionRecord] | None:
        """The subscription whose term ends on `day` (UTC), by the term-end index (a renewal's
        id names the subscription and the day, not the customer)."""
        return self._index_lookup(self.indexes[0], (day_key(day), key(subscription_id)))

    def add_all(self, records: list[SubscriptionRecord]) -> bool:
        """Add a customer's new subscriptions at once (its first sync): term-end rows first,
        then the records in one transaction per 100. False when one exists already (nothing
        of that transaction written): add them one by one instead."""
        return self._add_all(records)

    def load(self, records: Iterable[SubscriptionRecord]) -> int:
        """Fill the book with subscriptions in batches (100 per transaction), term-end rows
        first: a partner's existing subscriptions on first sync, or a benchmark's book.
        Overwrites what is there (no ETags): not for concurrent writers."""
        return self._load(records)
