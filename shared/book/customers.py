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

Index `CustomerNames`
    PartitionKey = `name`, RowKey = `<searchable company name>|<customer id>`;
    PartitionKey = `domain`, RowKey = `<domain>|<customer id>`.
    Serves: customers whose company name starts with some text (case and spacing ignored:
    `searchable()`), and customers whose domain starts with some text, each in name or
    domain order, paged: a RowKey range in one partition, then one point read per row to
    check it against its record. What a RowKey range cannot serve, a word inside a name or
    a domain's ending, is not offered.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from shared.book._repository import DEFAULT_LIMIT, Index, Keys, Page, Repository, Stored
from shared.book.keys import key
from shared.models.party import Customer

TABLE = "Customers"
KEYS_TABLE = "CustomerKeys"
NAMES_TABLE = "CustomerNames"


def searchable(text: str) -> str:
    """A name as the name filter compares it: Unicode-normalised (NFKC), case-folded, runs of
    whitespace made one space, trimmed. "  Fabrikam   INC " and "fabrikam inc" are equal."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def prefix_range(prefix: str) -> tuple[str, str]:
    """The RowKeys that start with `prefix` (escaped as keys are): [start, end)."""
    start = key(prefix)
    return start, start[:-1] + chr(ord(start[-1]) + 1)


def _by_tenant(customer: Customer) -> Keys | None:
    return (f"tenant|{customer.tenant_id}", "") if customer.tenant_id else None


def _by_stripe(customer: Customer) -> Keys | None:
    stripe_id = customer.stripe_customer_id
    return (key(f"stripe|{stripe_id}"), "") if stripe_id else None


def _by_name(customer: Customer) -> Keys:
    return "name", key(f"{searchable(customer.company_name)}|{customer.id}")


def _by_domain(customer: Customer) -> Keys:
    return "domain", key(f"{customer.domain}|{customer.id}")


class Customers(Repository[Customer]):
    model = Customer
    table_name = TABLE
    noun = "customer"
    indexes = (
        Index(KEYS_TABLE, _by_tenant),
        Index(KEYS_TABLE, _by_stripe),
        Index(NAMES_TABLE, _by_name),
        Index(NAMES_TABLE, _by_domain),
    )

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

    def named(
        self,
        name: str | None = None,
        *,
        domain: str | None = None,
        limit: int = DEFAULT_LIMIT,
        next: str | None = None,
    ) -> Page[Customer]:
        """Customers whose company name starts with `name` (compared as `searchable()`) and
        whose domain starts with `domain`: the name index when a name is given (the domain
        then checked on each record), else the domain index; in that index's order. A page
        may hold fewer than `limit` when rows were stale; `next` still says if there is more."""
        wanted_domain = (domain or "").strip().lower()
        wanted_name = searchable(name or "")
        if wanted_name:
            partition, index, prefix = "name", self.indexes[2], wanted_name
        elif wanted_domain:
            partition, index, prefix = "domain", self.indexes[3], wanted_domain
        else:
            raise ValueError("give a name or a domain to look for (page() lists everyone)")
        start, end = prefix_range(prefix)
        return self._index_page(
            index,
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            {"pk": partition, "start": start, "end": end},
            limit,
            next,
            accept=lambda c: (
                searchable(c.company_name).startswith(wanted_name)
                and c.domain.startswith(wanted_domain)
            ),
        )

    def stored_page(
        self, *, limit: int = DEFAULT_LIMIT, next: str | None = None
    ) -> Page[Stored[Customer]]:
        """Every customer, in id order, as read (with its ETag: a sweep that writes some of
        them replaces them without reading each again)."""
        return self._stored_page("", {}, limit, next)
