"""Billing runs: each run's report and what it did for each customer (workflows/billing_run.py).

Table `BillingRuns`
    PartitionKey = the run id (`<period>-d<billing day>`, `2027-03-d01`), RowKey = "" for
    the run's report, the customer id for what the run did for that customer (invoice,
    totals, margin, or the reason it was skipped).
    Serves: a run's report (point read); the customers of a run in id order, paged (one
    partition: the report's per-customer margin and skipped customers). A rerun of the
    period writes the same rows again: `save`, last writer wins, nothing written when equal.
"""

from __future__ import annotations

from shared.book._repository import DEFAULT_LIMIT, Keys, Page, Repository, Stored
from shared.book.keys import key
from shared.models.billing_run import BillingRunReport, CustomerBilled

TABLE = "BillingRuns"
_REPORT = ""


class BillingRuns(Repository[BillingRunReport]):
    model = BillingRunReport
    table_name = TABLE
    noun = "billing run"

    def keys(self, record: BillingRunReport) -> Keys:
        return key(record.run_id), _REPORT

    def find(self, run_id: str) -> Stored[BillingRunReport] | None:
        return self._find((key(run_id), _REPORT))


class BilledCustomers(Repository[CustomerBilled]):
    model = CustomerBilled
    table_name = TABLE
    noun = "billed customer"

    def keys(self, record: CustomerBilled) -> Keys:
        return key(record.run_id), key(record.customer_id)

    def find(self, run_id: str, customer_id: str) -> Stored[CustomerBilled] | None:
        return self._find((key(run_id), key(customer_id)))

    def of_run(
        self, run_id: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[CustomerBilled]:
        """The customers of a run, in customer id order (the report row left out)."""
        return self._page(
            "PartitionKey eq @pk and RowKey gt @report",
            {"pk": key(run_id), "report": _REPORT},
            limit,
            next,
        )
