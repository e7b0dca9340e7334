"""Ops alerts: what an operator must look at (a poison message, a dispute, a failing poll).

Table `OpsAlerts`
    PartitionKey = the UTC day the alert was raised, RowKey = the alert's id; column Kind.
    Serves: the alerts of a day, or of a range of days (a PartitionKey range: the ops page,
    newest days first by the caller), paged; whether an alert was raised (point read by day
    and id).

An alert is a one-time fact: raising the same id again (a poison message's last attempt
retried, the same dispute delivered twice) is "already done". Raising also logs it at ERROR
(logger `cspflow.alerts`), which is what Application Insights alert rules watch.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Facts, Keys, Page, Recorded
from shared.book.keys import day_key, key, unkey
from shared.models.intake import OpsAlert

TABLE = "OpsAlerts"
log = logging.getLogger("cspflow.alerts")


class OpsAlerts(Facts[OpsAlert]):
    model = OpsAlert
    table_name = TABLE
    noun = "ops alert"

    def keys(self, record: OpsAlert) -> Keys:
        return day_key(record.at), key(record.id)

    def columns(self, record: OpsAlert) -> dict[str, Any]:
        return {"Kind": record.kind}

    def describe(self, keys: Keys) -> str:
        return f"ops alert {unkey(keys[1])} of {keys[0]} (table {self.table.name})"

    def raise_alert(self, alert: OpsAlert) -> Recorded[OpsAlert]:
        """Record the alert (once per id and day) and log it at ERROR the first time."""
        recorded = self.record(alert)
        if not recorded.already_done:
            log.error("ops alert %s (%s): %s", alert.id, alert.kind, alert.summary)
        return recorded

    def find(self, day: date | datetime, alert_id: str) -> OpsAlert | None:
        return self._find_fact((day_key(day), key(alert_id)))

    def of_days(
        self,
        first: date | datetime,
        last: date | datetime,
        *,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[OpsAlert]:
        """The alerts raised from `first` to `last` (UTC days, both included), oldest day
        first."""
        return self._page(
            "PartitionKey ge @first and PartitionKey le @last",
            {"first": day_key(first), "last": day_key(last)},
            limit,
            next,
        )
