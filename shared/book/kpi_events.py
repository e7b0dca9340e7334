"""KPI events: append-only facts, one per business outcome, aggregated by month.

Table `KpiEvents`
    PartitionKey = the UTC month the event occurred (`YYYY-MM`), RowKey =
    `<name>|<subject id>`; column Name.
    Serves: a month's events (the KPI report, the ops page): one partition, paged; one KPI
    of a month (a RowKey prefix range in that partition); whether an outcome was recorded
    (point read). A month's partition is written while the month runs and only read after.

An event is recorded once: the same KPI for the same subject in the same month again is
"already done" (a retried activity, a replayed workflow), never a second count.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Facts, Keys, Page
from shared.book.keys import key, month_key, unkey
from shared.models.kpi import KpiEvent, KpiName

TABLE = "KpiEvents"


class KpiEvents(Facts[KpiEvent]):
    model = KpiEvent
    table_name = TABLE
    noun = "KPI event"

    def keys(self, record: KpiEvent) -> Keys:
        return month_key(record.occurred_at), key(f"{record.name}|{record.subject_id}")

    def columns(self, record: KpiEvent) -> dict[str, Any]:
        return {"Name": record.name}

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        return f"KPI event {keys[1]} of {keys[0]} (table {self.table.name})"

    def find(self, name: KpiName, subject_id: str, occurred_at: datetime) -> KpiEvent | None:
        return self._find_fact((month_key(occurred_at), key(f"{name}|{subject_id}")))

    def of_month(
        self,
        month: date | datetime,
        name: KpiName | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[KpiEvent]:
        """The events of `month` (any day in it), optionally of one KPI."""
        if name is None:
            return self._page("PartitionKey eq @pk", {"pk": month_key(month)}, limit, next)
        return self._page(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            {"pk": month_key(month), "start": f"{name}|", "end": f"{name}}}"},
            limit,
            next,
        )
