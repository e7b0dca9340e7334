"""Dunning cases: one per unpaid invoice, from the first failed charge to its close.

Table `DunningCases`
    PartitionKey = invoice id, RowKey = ""; columns CustomerId, Status.
    Serves: the case of an invoice (point read: a Stripe payment event names the invoice).

Index `OpenDunningCases`
    PartitionKey = "open", RowKey = invoice id; column CustomerId. Only open cases.
    Serves: open dunning cases (the ops page, the dunning sweep): one partition holding only
    what is open, paged; whether a customer is in dunning (the renewal workflow's question):
    the same partition filtered on CustomerId (a case's customer never changes). Open cases
    are few compared with the book, and a closed case leaves the index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Index, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import key, unkey
from shared.models.dunning import DunningCaseRecord
from shared.models.timeline import TimelineEntry

TABLE = "DunningCases"
OPEN_TABLE = "OpenDunningCases"
_OPEN = "open"


def _open_case(record: DunningCaseRecord) -> Keys | None:
    return (_OPEN, key(record.invoice_id)) if record.status == "open" else None


def _open_columns(record: DunningCaseRecord) -> dict[str, Any]:
    return {"CustomerId": record.customer_id}


class DunningCases(Repository[DunningCaseRecord]):
    model = DunningCaseRecord
    table_name = TABLE
    noun = "dunning case"
    indexes = (Index(OPEN_TABLE, _open_case, _open_columns),)

    def keys(self, record: DunningCaseRecord) -> Keys:
        return key(record.invoice_id), ""

    def columns(self, record: DunningCaseRecord) -> dict[str, Any]:
        return {"CustomerId": record.customer_id, "Status": record.status}

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        return f"dunning case of invoice {keys[0]} (table {self.table.name})"

    def timeline_entry(self, record: DunningCaseRecord, at: datetime) -> TimelineEntry:
        invoice = record.invoice_id
        if record.status != "open":
            return TimelineEntry(
                customer_id=record.customer_id,
                id=f"dunning:{invoice}:{record.status}",
                at=at,
                kind="dunning",
                subject_id=invoice,
                summary=f"dunning of invoice {invoice} closed: {record.status}",
            )
        attempts = record.case.attempts
        if not attempts:  # an overdue invoice on invoice terms: nothing was charged
            return TimelineEntry(
                customer_id=record.customer_id,
                id=f"dunning:{invoice}:overdue",
                at=at,
                kind="dunning",
                subject_id=invoice,
                summary=f"invoice {invoice} is overdue: dunning opened",
            )
        last = attempts[-1]
        reason = last.decline_code or last.failure_code or last.outcome
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"dunning:{invoice}:attempt:{len(attempts)}",
            at=at,
            kind="payment",
            subject_id=invoice,
            summary=f"payment {len(attempts)} of invoice {invoice} ({last.amount}) "
            f"failed: {reason}",
        )

    def open(self, record: DunningCaseRecord) -> Recorded[DunningCaseRecord]:
        """The invoice's case: the one in the book if it was opened before (already done),
        else `record`."""
        return self._get_or_add(record)

    def find(self, invoice_id: str) -> Stored[DunningCaseRecord] | None:
        return self._find((key(invoice_id), ""))

    def get(self, invoice_id: str) -> Stored[DunningCaseRecord]:
        return self._get((key(invoice_id), ""))

    def update(
        self, invoice_id: str, change: Callable[[DunningCaseRecord], DunningCaseRecord]
    ) -> Stored[DunningCaseRecord]:
        return self._update((key(invoice_id), ""), change)

    def open_cases(
        self, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[DunningCaseRecord]:
        """Open cases, in invoice id order."""
        return self._index_page(self.indexes[0], "PartitionKey eq @pk", {"pk": _OPEN}, limit, next)

    def open_of_customer(self, customer_id: str) -> list[DunningCaseRecord]:
        """The customer's open cases (the dunning workflows a card change concerns)."""
        found: list[DunningCaseRecord] = []
        cursor: str | None = None
        while True:
            page = self._index_page(
                self.indexes[0],
                "PartitionKey eq @pk and CustomerId eq @customer",
                {"pk": _OPEN, "customer": customer_id},
                DEFAULT_LIMIT,
                cursor,
            )
            found += page.items
            if page.next is None:
                return found
            cursor = page.next

    def customer_in_dunning(self, customer_id: str) -> bool:
        """Whether the customer has an open case."""
        cursor: str | None = None
        while True:
            page = self._index_page(
                self.indexes[0],
                "PartitionKey eq @pk and CustomerId eq @customer",
                {"pk": _OPEN, "customer": customer_id},
                DEFAULT_LIMIT,
                cursor,
            )
            if page.items or page.next is None:
                return bool(page.items)
            cursor = page.next
