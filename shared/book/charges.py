"""Charges: every charge or credit cspflow made to a customer for a subscription outside the
billing run (an order's first period, seats added or removed, a cancellation's refund, an
upgrade's price difference), recorded by the step that made it (docs/billing.md,
"Reconciliation").

Table `Charges`
    PartitionKey = customer id; RowKey = `<service start, YYYY-MM-DD>|<charge id>`; columns
    Kind, SubscriptionId, StripeDocument (its credit note, or its invoice).
    Serves: a customer's charges for service starting in a range of days (one partition, a
    RowKey range: the reconciliation of a month); one charge (point read); the charge of a
    subscription on a Stripe invoice or credit note (the partition filtered on
    StripeDocument: a customer's dispute names it). The charge id is
    derived from what made it (the order and subscription, the licence change), so the step
    that records it again, retried or replayed, finds it already done.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import day_key, key
from shared.models.billing import Charge

TABLE = "Charges"


def _row(start: date, charge_id: str) -> str:
    return f"{day_key(start)}|{key(charge_id)}"


class Charges(Repository[Charge]):
    model = Charge
    table_name = TABLE
    noun = "charge"

    def keys(self, record: Charge) -> Keys:
        return key(record.customer_id), f"{day_key(record.period_start)}|{key(record.id)}"

    def columns(self, record: Charge) -> dict[str, Any]:
        return {
            "Kind": record.kind,
            "SubscriptionId": record.subscription_id,
            "StripeDocument": record.stripe_document or "",
        }

    def record(self, charge: Charge) -> Recorded[Charge]:
        """Record a charge made; the same charge again is already done, another under the
        same id and service start `RecordExists`."""
        return self.ensure(charge)

    def find(self, customer_id: str, start: date, charge_id: str) -> Stored[Charge] | None:
        return self._find((key(customer_id), _row(start, charge_id)))

    def by_stripe_document(
        self, customer_id: str, document_id: str, subscription_id: str
    ) -> Charge | None:
        """The customer's charge of a subscription on a Stripe invoice or credit note (what a
        customer disputes names): one partition, filtered on StripeDocument."""
        found, _ = self.table.query(
            "PartitionKey eq @pk and StripeDocument eq @doc and SubscriptionId eq @sub",
            {"pk": key(customer_id), "doc": document_id, "sub": subscription_id},
            limit=1,
            cursor=None,
            what=f"charge on {document_id} of customer {customer_id}",
        )
        return self._stored(found[0]).record if found else None

    def of_customer(
        self,
        customer_id: str,
        *,
        starting_from: date,
        starting_before: date,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[Charge]:
        """The customer's charges whose service starts on a day in
        `[starting_from, starting_before)`, by service start."""
        return self._page(
            "PartitionKey eq @pk and RowKey ge @first and RowKey lt @end",
            {
                "pk": key(customer_id),
                "first": day_key(starting_from),
                "end": day_key(starting_before),
            },
            limit,
            next,
        )
