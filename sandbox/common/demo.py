"""The demo partner's customers, as both sandboxes know them (`--seed-data demo`).

Each sandbox seeds its own side from this list: the Partner Center sandbox their tenants and
NCE subscriptions (sandbox/partner_center/seed.py), the Stripe sandbox their billing customers
and cards (sandbox/stripe/seed.py). The tenant ids are fixed so that each Stripe customer's
`metadata[cspflow_customer_id]` names its Partner Center customer, as cspflow links them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from sandbox.common import book

# What a sandbox can hold on first start: the demo partner, nothing, or a partner's book of N
# customers (sandbox/common/book.py).
SEED_CHOICES = ("demo", "none", "book:N")


def seed_data(text: str) -> str:
    """`--seed-data`'s argparse type: `demo`, `none` or `book:N` (N from 1 to 100,000)."""
    if text in ("demo", "none"):
        return text
    try:
        if book.parse(text) is not None:
            return text
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    raise argparse.ArgumentTypeError(f"{text!r}: choose demo, none or book:N")


@dataclass(frozen=True)
class DemoCustomer:
    key: str
    tenant_id: str  # the Partner Center customer id (= its Entra tenant id)
    company: str
    domain_prefix: str  # <prefix>.onmicrosoft.com
    email: str
    contact_first: str
    contact_last: str

    @property
    def domain(self) -> str:
        return f"{self.domain_prefix}.onmicrosoft.com"


NORTHWIND = DemoCustomer(
    "northwind",
    "0b6a51f1-7f0c-4c5e-9b41-3b0c2f6d1a01",
    "Northwind Traders",
    "northwinddemo",
    "billing@northwind.example",
    "Nancy",
    "Davolio",
)
FABRIKAM = DemoCustomer(
    "fabrikam",
    "0b6a51f1-7f0c-4c5e-9b41-3b0c2f6d1a02",
    "Fabrikam Inc",
    "fabrikamdemo",
    "ap@fabrikam.example",
    "Andrew",
    "Fuller",
)
TAILSPIN = DemoCustomer(
    "tailspin",
    "0b6a51f1-7f0c-4c5e-9b41-3b0c2f6d1a03",
    "Tailspin Toys",
    "tailspindemo",
    "finance@tailspin.example",
    "Janet",
    "Leverling",
)
CUSTOMERS: tuple[DemoCustomer, ...] = (NORTHWIND, FABRIKAM, TAILSPIN)
