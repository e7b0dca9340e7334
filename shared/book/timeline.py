"""The customer's timeline: every order, licence change, notice, payment, invoice, dunning
step, renewal, SLA clock and Partner Center correction, in time order.

Table `Timeline`
    PartitionKey = customer id.
    RowKey = `t|<instant>|<entry id>`: the entry, in time order (fixed-width UTC instants).
    RowKey = `i|<entry id>`: a marker naming the entry's row and carrying a copy of the
        entry, so an entry id is recorded once.

Queries served
    - a customer's timeline in time order, optionally from an instant on: one partition, a
      RowKey range (`t|<since>` .. `t}`), paged;
    - one entry by id: its marker (one point read; a marker written before markers carried
      the entry names the row, a second read).

An append inserts the marker first: whoever inserts it owns the entry id, and the entry's row
follows. A fact appended twice, even by a retried step that gives it another time, is
recorded once: the second append finds the marker and answers "already done" with the entry
written first. A writer stopped between the two inserts leaves a marker without its row; the
next append of that id (the step retried, as Durable retries an activity whose host died)
writes the row from the marker's copy. Two inserts, not one entity group transaction of the
two rows: the SDK builds and parses a transaction as a multipart batch, which costs as much
CPU as three single requests, and every book write appends to the timeline. A customer's
first history (`append_all`) still goes in transactions of up to 50 entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Page, Recorded, Tables
from shared.book._table import JSON, json_properties, json_text
from shared.book.keys import instant_key, key
from shared.models.timeline import TimelineEntry

TABLE = "Timeline"
_ENTRIES = "t|"
_ENTRIES_END = "t}"  # "}" sorts right after "|"
_MARKERS = "i|"
MAX_ENTRIES_PER_BATCH = 50  # an entry and its marker: two of a transaction's 100 operations


class Timeline:
    def __init__(self, tables: Tables) -> None:
        self.table = tables.table(TABLE)

    @staticmethod
    def _row_key(entry: TimelineEntry) -> str:
        return key(f"{_ENTRIES}{instant_key(entry.at)}|{entry.id}")

    def _what(self, customer_id: str, entry_id: str) -> str:
        return f"timeline entry {entry_id} of customer {customer_id} (table {self.table.name})"

    def append(self, entry: TimelineEntry) -> Recorded[TimelineEntry]:
        """Record `entry` unless an entry with its id is there already (then that one)."""
        pk, row_key, text = key(entry.customer_id), self._row_key(entry), entry.model_dump_json()
        what = self._what(entry.customer_id, entry.id)
        marker_key = key(_MARKERS + entry.id)
        if self.table.insert(self._marker(pk, marker_key, row_key, text), what) is not None:
            self._insert_row(pk, row_key, entry.kind, text, what)
            return Recorded(entry, already_done=False)
        marker = self.table.get(pk, marker_key, what)
        existing = None if marker is None else self._entry_of(pk, marker, what)
        if marker is None or existing is None:  # pragma: no cover - never deleted
            raise AssertionError(f"{what}: a marker without its entry")
        if JSON in marker:
            # The first writer may have stopped before the row: written now (a no-op if there).
            self._insert_row(pk, marker["Entry"], existing.kind, json_text(marker), what)
        return Recorded(existing, already_done=True)

    def _entry_of(self, pk: str, marker: dict[str, Any], what: str) -> TimelineEntry | None:
        """The entry a marker stands for: its own copy, or (a marker from before markers
        carried the entry) the row it names."""
        if JSON in marker:
            return TimelineEntry.model_validate_json(json_text(marker))
        row = self.table.get(pk, marker["Entry"], what)
        return None if row is None else TimelineEntry.model_validate_json(json_text(row))

    @staticmethod
    def _marker(pk: str, marker_key: str, row_key: str, text: str) -> dict[str, object]:
        return {"PartitionKey": pk, "RowKey": marker_key, "Entry": row_key,
                **json_properties(text)}  # fmt: skip

    @staticmethod
    def _row(pk: str, row_key: str, kind: str, text: str) -> dict[str, object]:
        return {"PartitionKey": pk, "RowKey": row_key, "Kind": kind, **json_properties(text)}

    def _insert_row(self, pk: str, row_key: str, kind: str, text: str, what: str) -> None:
        # None: there already (a retry, or a racing writer)
        self.table.insert(self._row(pk, row_key, kind, text), what)

    def append_all(self, entries: list[TimelineEntry]) -> None:
        """Record several entries of one customer at once: one entity group transaction when
        none of them is recorded yet (a customer's history on its first sync), else one
        `append` each (each recorded once, as always)."""
        if not entries:
            return
        customer_ids = {entry.customer_id for entry in entries}
        if len(customer_ids) != 1:
            raise ValueError("append_all takes the entries of one customer")
        if len(entries) <= MAX_ENTRIES_PER_BATCH:
            operations: list[tuple[str, dict[str, object]]] = []
            for entry in entries:
                pk, row_key = key(entry.customer_id), self._row_key(entry)
                text = entry.model_dump_json()
                operations.append(
                    ("create", self._marker(pk, key(_MARKERS + entry.id), row_key, text))
                )
                operations.append(("create", self._row(pk, row_key, entry.kind, text)))
            what = f"{len(entries)} timeline entries of customer {entries[0].customer_id}"
            if self.table.transact(operations, what):
                return
        for entry in entries:
            self.append(entry)

    def entry(self, customer_id: str, entry_id: str) -> TimelineEntry | None:
        pk, what = key(customer_id), self._what(customer_id, entry_id)
        marker = self.table.get(pk, key(_MARKERS + entry_id), what)
        return None if marker is None else self._entry_of(pk, marker, what)

    def page(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[TimelineEntry]:
        """The customer's entries in time order (from `since` on, inclusive)."""
        start = _ENTRIES + (instant_key(since) if since is not None else "")
        rows, cursor = self.table.query(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            {"pk": key(customer_id), "start": start, "end": _ENTRIES_END},
            limit=limit,
            cursor=next,
            what=f"timeline of customer {customer_id}",
        )
        return Page([TimelineEntry.model_validate_json(json_text(row)) for row in rows], cursor)
