"""A customer's timeline: everything that happened to the customer, in time order.

Orders, licence changes, notices, payments, invoices, dunning, renewals, SLA clocks, and every
correction Partner Center forced on the book (with the fields that differed). An entry's `id`
names the fact (`order:ord-1:placed`), so recording the same fact twice records it once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from shared.models._base import DomainModel, UtcDateTime

TimelineKind = Literal[
    "customer",
    "subscription",
    "order",
    "licence_change",
    "renewal",
    "invoice",
    "payment",
    "dunning",
    "notice",
    "sla",
]
TimelineSource = Literal["cspflow", "partner_center", "stripe"]


class FieldChange(DomainModel):
    """One field that changed: its name (snake_case), the value before and after (JSON)."""

    field: str = Field(min_length=1, max_length=200)
    before: JsonValue
    after: JsonValue


class TimelineEntry(DomainModel):
    customer_id: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=300)
    at: UtcDateTime
    kind: TimelineKind
    summary: str = Field(min_length=1, max_length=500)
    subject_id: str | None = Field(default=None, max_length=200)
    source: TimelineSource = "cspflow"
    changes: tuple[FieldChange, ...] = ()
