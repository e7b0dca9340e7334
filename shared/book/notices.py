"""Notices sent to customers: one-time facts under their idempotency key.

Table `Notices`
    PartitionKey = the notice's idempotency key, RowKey = ""; columns CustomerId, Kind.
    Serves: whether a notice was sent (point read by its key: the notifications adapter
    asks before mailing and records after, so a retried step never mails twice). A
    customer's notices are on its timeline.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from shared.book._repository import Facts, Keys
from shared.book.keys import key
from shared.models.notice import Notice
from shared.models.timeline import TimelineEntry

TABLE = "Notices"
_READABLE_KEY = 200  # longer keys are named on the timeline by their hash


class Notices(Facts[Notice]):
    model = Notice
    table_name = TABLE
    noun = "notice"

    def keys(self, record: Notice) -> Keys:
        return key(record.key), ""

    def columns(self, record: Notice) -> dict[str, Any]:
        return {"CustomerId": record.customer_id, "Kind": record.kind}

    def timeline_entry(self, record: Notice, at: datetime) -> TimelineEntry:
        name = record.key
        if len(name) > _READABLE_KEY:
            name = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"notice:{name}",
            at=record.sent_at,
            kind="notice",
            subject_id=record.subject_id,
            summary=f"{record.kind} sent to {', '.join(record.to)}: {record.subject}"[:500],
        )

    def sent(self, notice_key: str) -> Notice | None:
        """The notice recorded under `notice_key`, if any."""
        return self._find_fact((key(notice_key), ""))
