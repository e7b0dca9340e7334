"""Orders: what customers asked to buy through the storefront, and how far each got.

Table `Orders`
    PartitionKey = order id (client-chosen, API conventions), RowKey = ""; columns
    CustomerId, Status.
    Serves: an order by its id (the API's status resource; the command check: the same
    order id with the same body is the same order, with another body a conflict). A
    customer's orders are on its timeline (an entry per order and status).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.book._repository import Keys, Recorded, Repository, Stored
from shared.book.keys import key
from shared.models.order import Order
from shared.models.timeline import TimelineEntry

TABLE = "Orders"


class Orders(Repository[Order]):
    model = Order
    table_name = TABLE
    noun = "order"

    def keys(self, record: Order) -> Keys:
        return key(record.id), ""

    def columns(self, record: Order) -> dict[str, Any]:
        return {"CustomerId": record.customer_id, "Status": record.status}

    def timeline_entry(self, record: Order, at: datetime) -> TimelineEntry:
        lines = len(record.lines)
        return TimelineEntry(
            customer_id=record.customer_id,
            id=f"order:{record.id}:{record.status}",
            at=at,
            kind="order",
            subject_id=record.id,
            summary=f"order {record.id} {record.status}: {lines} line"
            f"{'s' if lines > 1 else ''}, {record.total}",
        )

    def place(self, order: Order) -> Recorded[Order]:
        """Record a new order; the same order again is already done, another order under
        the same id `RecordExists`."""
        return self.ensure(order)

    def find(self, order_id: str) -> Stored[Order] | None:
        return self._find((key(order_id), ""))

    def get(self, order_id: str) -> Stored[Order]:
        return self._get((key(order_id), ""))

    def update(self, order_id: str, change: Callable[[Order], Order]) -> Stored[Order]:
        return self._update((key(order_id), ""), change)
