"""`--seed-data book:N`: the Stripe customers of a partner's existing book of N, created once.

sandbox/common/book.py generates the book from N and `--seed`; the Partner Center sandbox
holds its tenants and subscriptions, this one its billing customers: most carry
`metadata[cspflow_customer_id]` (the tenant id), some only an email at the customer's billing
domain, a few are ambiguous on purpose (two Stripe customers at one customer's domain, one
Stripe customer at a domain two customers share), some customers have none, and a few
Stripe customers belong to nobody in the book (the table in sandbox/common/book.py).

The customers are written to the store directly in one transaction, with ids derived from
the seed (the same book gets the same `cus_` ids), no card and no `customer.created` event:
seed data, not API history. A counter marks the seed, so a restart never seeds twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sandbox.common.book import book_customers

from . import resources
from .seed import PARTNER_CUSTOMER_KEY
from .store import Store

COUNTER = "seed:book"


def customer_id(seed: int | None, key: str) -> str:
    digest = hashlib.sha256(f"cspflow-book-{seed or 0}:{key}".encode()).hexdigest()
    return f"cus_B{digest[:13]}"


def seed_book(store: Store, count: int, seed: int | None, now: datetime) -> int:
    """Create the Stripe customers of the book of `count` for `seed` unless they are there;
    how many were created."""
    created = int(now.timestamp())
    made = 0
    with store.transaction():
        if store.next_number(COUNTER) > 1:
            return 0
        for customer in book_customers(count, seed):
            for stripe in customer.stripe:
                store.insert(
                    resources.customer(
                        created,
                        id=customer_id(seed, stripe.key),
                        name=stripe.name,
                        email=stripe.email,
                        metadata={PARTNER_CUSTOMER_KEY: customer.tenant_id}
                        if stripe.linked
                        else {},
                    )
                )
                made += 1
    return made
