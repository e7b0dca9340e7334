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

Index `SlaClocksByCustomer`
    PartitionKey = customer id, RowKey = `<started at>|<kind>|<subject id>`.
    Serves: a customer's clocks, open and closed, in the order they started (the customer's
    SLA report), one partition per customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Index, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import day_key, key, unkey
from shared.models.sla import SlaClock, SlaKind
from shared.models.timeline import TimelineEntry
from shared.policy.sla import complete_clock

TABLE = "SlaClocks"
AT_RISK_TABLE = "SlaClocksAtRisk"
BY_CUSTOMER_TABLE = "SlaClocksByCustomer"


def _at_risk(clock: SlaClock) -> Keys | None:
    if clock.completed_at is not None or clock.phase != "running":
        return None
    return day_key(clock.at_risk_at), key(f"{clock.kind}|{clock.subject_id}")


def _by_customer(clock: SlaClock) -> Keys:
    started = clock.started_at.strftime("%Y%m%dT%H%M%S%f")
    return key(clock.customer_id), key(f"{started}|{clock.kind}|{clock.subject_id}")


def _at_risk_columns(clock: SlaClock) -> dict[str, Any]:
    return {"AtRiskAt": clock.at_risk_at, "Deadline": clock.deadline}


class SlaClocks(Repository[SlaClock]):
    model = SlaClock
    table_name = TABLE
    noun = "SLA clock"
    indexes = (
        Index(AT_RISK_TABLE, _at_risk, _at_risk_columns),
        Index(BY_CUSTOMER_TABLE, _by_customer),
    )

    def keys(self, record: SlaClock) -> Keys:
        return key(record.subject_id), record.kind

    def columns(self, record: SlaClock) -> dict[str, Any]:
        return {"CustomerId": record.customer_id}

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        return f"{keys[1]} SLA clock of {keys[0]} (table {self.table.name})"

    def timeline_entry(self, record: SlaClock, at: datetime) -> TimelineEntry:
        """The clock's latest event (started, paused, at risk, breached, met, ...), once."""
        last = record.history[-1] if record.history else None
        event = last.event if last else ("started" if record.completed_at is None else "met")
        if record.completed_at is not None and last is None:
            event = "met" if record.completed_at <= record.deadline else "closed_breached"
        words = {
            "started": f"started, deadline {record.deadline:%Y-%m-%d %H:%M} UTC ({record.tier})",
            "resumed": f"resumed, deadline {record.deadline:%Y-%m-%d %H:%M} UTC",
            "closed_breached": f"breached (deadline {record.deadline:%Y-%m-%d %H:%M} UTC)",
            "met": f"met (deadline {record.deadline:%Y-%m-%d %H:%M} UTC)",
            "escalated": f"escalated to {last.detail if last else ''}",
        }.get(event, event.replace("_", " "))
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"sla:{record.kind}:{record.subject_id}:{len(record.history)}:{event}",
            at=last.at if last else at,
            kind="sla",
            subject_id=record.subject_id,
            summary=f"{record.kind} SLA of {record.subject_id} {words}",
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

        return self.update(kind, subject_id, lambda clock: complete_clock(clock, at))

    def of_customer(
        self, customer_id: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[SlaClock]:
        """A customer's clocks, open and closed, in the order they started."""
        return self._index_page(
            self.indexes[1], "PartitionKey eq @pk", {"pk": key(customer_id)}, limit, next
        )

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
