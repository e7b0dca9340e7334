"""Customers: the partner's customers, with their Partner Center tenant and Stripe customer.

Table `Customers`
    PartitionKey = customer id, RowKey = "".
    Serves: a customer by id (point read); every customer, paged (the API's list, the ops
    page): a scan, which is what that listing is.

Index `CustomerKeys`
    PartitionKey = `tenant|<tenant id>` or `stripe|<Stripe customer id>`, RowKey = "".
    Serves: the customer a Partner Center event or read names (Partner Center's customer id
    is the tenant id), the customer a Stripe event names: one point read each, then the
    record.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.book._repository import DEFAULT_LIMIT, Index, Keys, Page, Repository, Stored
from shared.book.keys import key
from shared.models.party import Customer

TABLE = "Customers"
KEYS_TABLE = "CustomerKeys"


def _by_tenant(customer: Customer) -> Keys | None:
    return (f"tenant|{customer.tenant_id}", "") if customer.tenant_id else None


def _by_stripe(customer: Customer) -> Keys | None:
    stripe_id = customer.stripe_customer_id
    return (key(f"stripe|{stripe_id}"), "") if stripe_id else None


class Customers(Repository[Customer]):
    model = Customer
    table_name = TABLE
    noun = "customer"
    indexes = (Index(KEYS_TABLE, _by_tenant), Index(KEYS_TABLE, _by_stripe))

    def keys(self, record: Customer) -> Keys:
        return key(record.id), ""

    def find(self, customer_id: str) -> Stored[Customer] | None:
        return self._find((key(customer_id), ""))

    def get(self, customer_id: str) -> Stored[Customer]:
        return self._get((key(customer_id), ""))

    def update(self, customer_id: str, change: Callable[[Customer], Customer]) -> Stored[Customer]:
        return self._update((key(customer_id), ""), change)

    def by_tenant(self, tenant_id: str) -> Stored[Customer] | None:
        """The customer whose Partner Center tenant (customer id) is `tenant_id`."""
        return self._index_lookup(self.indexes[0], (f"tenant|{tenant_id.lower()}", ""))

    def by_stripe_customer(self, stripe_customer_id: str) -> Stored[Customer] | None:
        return self._index_lookup(self.indexes[1], (key(f"stripe|{stripe_customer_id}"), ""))

    def page(self, *, limit: int = DEFAULT_LIMIT, next: str | None = None) -> Page[Customer]:
        """Every customer, in id order."""
        return self._page("", {}, limit, next)

    def stored_page(
        self, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[Stored[Customer]]:
        """Every customer, in id order, as read (with its ETag: a sweep that writes some of
        them replaces them without reading each again)."""
        return self._stored_page("", {}, limit, next)
