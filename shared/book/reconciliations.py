"""Reconciliations: each period's lines (Microsoft's billed lines matched to cspflow's) and
summary, and customers' disputes (workflows/reconciliation.py, docs/billing.md).

Table `Reconciliations`
    PartitionKey = the period (`2027-03`); RowKey = "" for the summary, `l|<line no, 7
    digits>` for each line, in Microsoft's order, then cspflow's unmatched lines.
    Serves: a period's summary (point read); its lines in order, paged, optionally filtered
    on Classification or CustomerId (columns; one partition). A reconciliation run again
    writes the same rows again (`save`: nothing written when equal).

Table `Disputes`
    PartitionKey = the period of the line disputed, RowKey = the dispute id (client-chosen,
    so the same dispute twice is one); columns InvoiceId, SubscriptionId.
    Serves: one dispute (point read); a period's disputes (one partition), which the
    reconciliation's lines link to by invoice and subscription.
"""

from __future__ import annotations

from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import key
from shared.models.reconciliation import Dispute, ReconciledLine, ReconciliationSummary

TABLE = "Reconciliations"
DISPUTES_TABLE = "Disputes"
_SUMMARY = ""
_LINE = "l|"
_LINES_END = "l}"


class ReconciliationSummaries(Repository[ReconciliationSummary]):
    model = ReconciliationSummary
    table_name = TABLE
    noun = "reconciliation"

    def keys(self, record: ReconciliationSummary) -> Keys:
        return key(record.period), _SUMMARY

    def find(self, period: str) -> Stored[ReconciliationSummary] | None:
        return self._find((key(period), _SUMMARY))


class ReconciledLines(Repository[ReconciledLine]):
    model = ReconciledLine
    table_name = TABLE
    noun = "reconciliation line"

    def keys(self, record: ReconciledLine) -> Keys:
        return key(record.period), f"{_LINE}{record.line_no:07d}"

    def columns(self, record: ReconciledLine) -> dict[str, Any]:
        return {
            "Classification": record.classification,
            "CustomerId": record.customer_id or "",
        }

    def of_period(
        self,
        period: str,
        *,
        classification: str | None = None,
        customer_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[ReconciledLine]:
        query = "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end"
        params: dict[str, Any] = {"pk": key(period), "first": _LINE, "end": _LINES_END}
        if classification is not None:
            query += " and Classification eq @classification"
            params["classification"] = classification
        if customer_id is not None:
            query += " and CustomerId eq @customer"
            params["customer"] = customer_id
        return self._page(query, params, limit, next)


class Disputes(Repository[Dispute]):
    model = Dispute
    table_name = DISPUTES_TABLE
    noun = "dispute"

    def keys(self, record: Dispute) -> Keys:
        return key(record.period), key(record.id)

    def columns(self, record: Dispute) -> dict[str, Any]:
        return {"InvoiceId": record.invoice_id, "SubscriptionId": record.subscription_id}

    def open(self, dispute: Dispute) -> Recorded[Dispute]:
        """Record a dispute; the same one again is already done, another under its id
        `RecordExists`."""
        return self.ensure(dispute)

    def find_one(self, period: str, dispute_id: str) -> Dispute | None:
        stored = self._find((key(period), key(dispute_id)))
        return None if stored is None else stored.record

    def of_period(
        self, period: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[Dispute]:
        return self._page("PartitionKey eq @pk", {"pk": key(period)}, limit, next)
