"""Invoices cspflow issued to its customers (through Stripe).

Table `Invoices`
    PartitionKey = customer id, RowKey = invoice id; columns Status, IssuedAt,
    StripeInvoiceId.
    Serves: a customer's invoices (one partition, paged: the API's statement, billing);
    one invoice (point read: every reference to an invoice carries its customer, the
    dunning case and the Stripe invoice's metadata alike); the invoice a Stripe event names
    (its customer's partition filtered on StripeInvoiceId).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import DEFAULT_LIMIT, Keys, Page, Recorded, Repository, Stored
from shared.book.keys import key, unkey
from shared.models.billing import Invoice
from shared.models.timeline import TimelineEntry, TimelineKind

TABLE = "Invoices"


class Invoices(Repository[Invoice]):
    model = Invoice
    table_name = TABLE
    noun = "invoice"

    def keys(self, record: Invoice) -> Keys:
        return key(record.customer_id), key(record.id)

    def columns(self, record: Invoice) -> dict[str, Any]:
        return {
            "Status": record.status,
            "IssuedAt": record.issued_at,
            "StripeInvoiceId": record.stripe_invoice_id or "",
        }

    def describe(self, keys: Keys) -> str:
        keys = (unkey(keys[0]), unkey(keys[1]))
        return f"invoice {keys[1]} of customer {keys[0]} (table {self.table.name})"

    def timeline_entry(self, record: Invoice, at: datetime) -> TimelineEntry | None:
        if record.status == "draft":
            return None
        kind: TimelineKind = "payment" if record.status == "paid" else "invoice"
        summary = {
            "open": f"invoice {record.id} issued: {record.total}, due {record.due_at:%Y-%m-%d}",
            "paid": f"invoice {record.id} paid: {record.total}",
            "void": f"invoice {record.id} voided",
            "uncollectible": f"invoice {record.id} marked uncollectible: {record.total}",
        }[record.status]
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"invoice:{record.id}:{record.status}",
            at=at,
            kind=kind,
            subject_id=record.id,
            source="stripe" if record.stripe_invoice_id else "cspflow",
            summary=summary,
        )

    def issue(self, invoice: Invoice) -> Recorded[Invoice]:
        """Record a new invoice; the same invoice again is already done, another under the
        same id `RecordExists`."""
        return self.ensure(invoice)

    def find(self, customer_id: str, invoice_id: str) -> Stored[Invoice] | None:
        return self._find((key(customer_id), key(invoice_id)))

    def get(self, customer_id: str, invoice_id: str) -> Stored[Invoice]:
        return self._get((key(customer_id), key(invoice_id)))

    def update(
        self, customer_id: str, invoice_id: str, change: Callable[[Invoice], Invoice]
    ) -> Stored[Invoice]:
        return self._update((key(customer_id), key(invoice_id)), change)

    def by_stripe_invoice(self, customer_id: str, stripe_invoice_id: str) -> Stored[Invoice] | None:
        """The customer's invoice that Stripe's `stripe_invoice_id` is (a Stripe event names
        the Stripe invoice and its customer): one partition, filtered on StripeInvoiceId."""
        found, _ = self.table.query(
            "PartitionKey eq @pk and StripeInvoiceId eq @sid",
            {"pk": key(customer_id), "sid": stripe_invoice_id},
            limit=1,
            cursor=None,
            what=f"invoice {stripe_invoice_id} of customer {customer_id}",
        )
        return self._stored(found[0]) if found else None

    def of_customer(
        self, customer_id: str, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[Invoice]:
        """The customer's invoices, in invoice id order."""
        return self._page("PartitionKey eq @pk", {"pk": key(customer_id)}, limit, next)
