"""How far each reconciliation poll has read (docs/intake.md, "Polls").

Table `PollWatermarks`
    PartitionKey = the poll's name, RowKey = "".
    Serves: a poll's watermark (point read), before and after each run. A poll runs once at
    a time (a timer never overlaps itself), so the last writer is right: `save`.
"""

from __future__ import annotations

from shared.book._repository import Keys, Repository, Stored
from shared.book.keys import key
from shared.models.intake import PollName, PollWatermark

TABLE = "PollWatermarks"


class PollWatermarks(Repository[PollWatermark]):
    model = PollWatermark
    table_name = TABLE
    noun = "poll watermark"

    def keys(self, record: PollWatermark) -> Keys:
        return key(record.poll), ""

    def find(self, poll: PollName) -> PollWatermark | None:
        stored = self._find((key(poll), ""))
        return None if stored is None else stored.record

    def save(self, record: PollWatermark) -> Stored[PollWatermark]:
        return super().save(record)
