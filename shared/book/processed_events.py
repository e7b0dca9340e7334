"""Webhook events cspflow has processed (Partner Center, Stripe): one-time facts.

Table `Events` (shared/storage.EVENTS_TABLE)
    PartitionKey = `<source>|<event id>`, RowKey = "".
    Serves: whether an event was processed (point read): a duplicate delivery, or a
    redelivery after a lost acknowledgement, is processed once.
"""

from __future__ import annotations

from shared.book._repository import Facts, Keys
from shared.book.keys import key
from shared.models.events import EventSource, ProcessedEvent
from shared.storage import EVENTS_TABLE

TABLE = EVENTS_TABLE


class ProcessedEvents(Facts[ProcessedEvent]):
    model = ProcessedEvent
    table_name = TABLE
    noun = "processed event"

    def keys(self, record: ProcessedEvent) -> Keys:
        return key(f"{record.source}|{record.event_id}"), ""

    def seen(self, source: EventSource, event_id: str) -> ProcessedEvent | None:
        return self._find_fact((key(f"{source}|{event_id}"), ""))
