"""SLA clocks: one per promise with a deadline (an onboarding, a licence change, a renewal
decision).

Table `SlaClocks`
    PartitionKey = subject id (the order, change or renewal the promise is about),
    RowKey = kind; column CustomerId.
    Serves: the clock of one promise (point read: the workflow that keeps the promise knows
    its kind and subject).

Index `SlaClocksAtRisk`
    PartitionKey = the UTC day the clock turns at risk (`at_risk_at`), RowKey =
    `<kind>|<subject id>`; columns AtRiskAt, Deadline (for people reading the table). Only
    running clocks (not completed).
    Serves: clocks about to breach (the SLA sweep): running clocks at risk by an instant, a
    PartitionKey range up to that day over running clocks only, so the sweep reads what
    needs attention, not every clock ever started. A completed clock leaves the index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Index, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import day_key, key, unkey
from shared.models.sla import SlaClock, SlaKind
from shared.models.timeline import TimelineEntry

TABLE = "SlaClocks"
AT_RISK_TABLE = "SlaClocksAtRisk"


def _at_risk(clock: SlaClock) -> Keys | None:
    if clock.completed_at is not None:
        return None
    return day_key(clock.at_risk_at), key(f"{clock.kind}|{clock.subject_id}")


def _at_risk_columns(clock: SlaClock) -> dict[str, Any]:
    return {"AtRiskAt": clock.at_risk_at, "Deadline": clock.deadline}


class SlaClocks(Repository[SlaClock]):
    model = SlaClock
    table_name = TABLE
    noun = "SLA clock"
    indexes = (Index(AT_RISK_TABLE, _at_risk, _at_risk_columns),)

    def keys(self, record: SlaClock) -> Keys:
        return key(record.subject_id), record.kind

    def columns(self, record: SlaClock) -> dict[str, Any]:
        return {"CustomerId": record.customer_id}

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        return f"{keys[1]} SLA clock of {keys[0]} (table {self.table.name})"

    def timeline_entry(self, record: SlaClock, at: datetime) -> TimelineEntry:
        if record.completed_at is None:
            state = "started"
            summary = f"deadline {record.deadline:%Y-%m-%d %H:%M} UTC ({record.tier})"
        else:
            state = "met" if record.completed_at <= record.deadline else "breached"
            summary = f"{state} (deadline {record.deadline:%Y-%m-%d %H:%M} UTC)"
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"sla:{record.kind}:{record.subject_id}:{state}",
            at=at,
            kind="sla",
            subject_id=record.subject_id,
            summary=f"{record.kind} SLA of {record.subject_id} {summary}",
        )

    def start(self, clock: SlaClock) -> Recorded[SlaClock]:
        """The promise's clock: the one in the book if it was started before (already done),
        else `clock`."""
        return self._get_or_add(clock)

    def find(self, kind: SlaKind, subject_id: str) -> Stored[SlaClock] | None:
        return self._find((key(subject_id), kind))

    def get(self, kind: SlaKind, subject_id: str) -> Stored[SlaClock]:
        return self._get((key(subject_id), kind))

    def update(
        self, kind: SlaKind, subject_id: str, change: Callable[[SlaClock], SlaClock]
    ) -> Stored[SlaClock]:
        return self._update((key(subject_id), kind), change)

    def complete(self, kind: SlaKind, subject_id: str, at: datetime) -> Stored[SlaClock]:
        """Stop the clock at `at` (a clock completed before keeps its first completion)."""

        def stop(clock: SlaClock) -> SlaClock:
            if clock.completed_at is not None:
                return clock
            return SlaClock.model_validate({**clock.model_dump(), "completed_at": at})

        return self.update(kind, subject_id, stop)

    def at_risk(
        self, by: datetime, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[SlaClock]:
        """Running clocks at risk (or breached) by `by`, earliest at-risk day first."""
        return self._index_page(
            self.indexes[0],
            "PartitionKey le @last",
            {"last": day_key(by)},
            limit,
            next,
            accept=lambda clock: clock.at_risk_at <= by,
        )
