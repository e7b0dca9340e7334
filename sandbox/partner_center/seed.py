"""`--seed-data demo`: the demo partner's customers and NCE subscriptions, created once.

Every customer of sandbox/common/demo.py gets its tenant (with the Microsoft Customer
Agreement attested) and the subscriptions below, bought in the past so that their terms end
at different times from the day of the first start:

| customer | offer | term / billing | seats | bought | term ends in about |
|---|---|---|---|---|---|
| Northwind Traders | Microsoft 365 Business Premium | P1Y / annual | 25 | 11 months ago | 1 month |
| Northwind Traders | Microsoft 365 Business Basic | P1M / monthly | 10 | 12 days ago | 18 days |
| Fabrikam Inc | Office 365 E3 | P1Y / monthly | 40 | 4 months ago | 8 months |
| Tailspin Toys | Microsoft 365 Business Standard | P1M / monthly | 8 | 20 days ago | 10 days |
| Tailspin Toys | Office 365 E5 | P1Y / annual | 5 | 2 months ago | 10 months |

Purchases go through the resource modules as the API would make them (cart, checkout, the ledger's
charges), dated in the past; the first tick then catches up on the billing cycles since, as
Microsoft would have billed them. The whole seed is one transaction, marked in the store's
meta table, so a restart (or a crash half-way) never seeds twice or leaves half a book.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.common.demo import FABRIKAM, NORTHWIND, TAILSPIN, DemoCustomer
from sandbox.partner_center import agreements, customers, orders, rules
from sandbox.partner_center.agreements import MCA_TEMPLATE_ID
from sandbox.partner_center.context import Caller, Ctx

MARKER = "seed:demo"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
E3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K39X"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"


@dataclass(frozen=True)
class DemoSubscription:
    customer: DemoCustomer
    catalog_item_id: str
    term: str
    billing_cycle: str
    quantity: int
    bought_days_ago: int


SUBSCRIPTIONS: tuple[DemoSubscription, ...] = (
    DemoSubscription(NORTHWIND, PREMIUM, "P1Y", "annual", 25, 335),
    DemoSubscription(NORTHWIND, BASIC, "P1M", "monthly", 10, 12),
    DemoSubscription(FABRIKAM, E3, "P1Y", "monthly", 40, 122),
    DemoSubscription(TAILSPIN, STANDARD, "P1M", "monthly", 8, 20),
    DemoSubscription(TAILSPIN, E5, "P1Y", "annual", 5, 61),
)


def seeded(pc: Ctx) -> bool:
    return pc.store.meta(MARKER) is not None


def seed_demo(pc: Ctx, now: datetime, app_id: str) -> None:
    """Create the demo book unless it is there already (one transaction)."""
    if seeded(pc):
        return
    caller = Caller(app_id=app_id, user="admin@demo-partner.onmicrosoft.com")
    with pc.store.transaction():
        customers = {s.customer for s in SUBSCRIPTIONS}
        for customer in sorted(customers, key=lambda c: c.key):
            bought = min(s.bought_days_ago for s in SUBSCRIPTIONS if s.customer == customer)
            _create_customer(pc, customer, now - timedelta(days=bought, hours=1), caller)
        for sub in SUBSCRIPTIONS:
            when = now - timedelta(days=sub.bought_days_ago)
            cart = orders.create_cart(
                pc,
                sub.customer.tenant_id,
                {
                    "lineItems": [
                        {
                            "catalogItemId": sub.catalog_item_id,
                            "quantity": sub.quantity,
                            "termDuration": sub.term,
                            "billingCycle": sub.billing_cycle,
                        }
                    ]
                },
                when,
                caller,
            )
            orders.checkout(pc, sub.customer.tenant_id, cart["id"], when, caller)
        pc.store.set_meta(MARKER, rules.iso(now))


def _create_customer(pc: Ctx, c: DemoCustomer, when: datetime, caller: Caller) -> None:
    customers.create_customer(
        pc,
        {
            "companyProfile": {"domain": c.domain},
            "billingProfile": {
                "email": c.email,
                "culture": "en-US",
                "language": "en",
                "companyName": c.company,
                "defaultAddress": {
                    "firstName": c.contact_first,
                    "lastName": c.contact_last,
                    "addressLine1": "One Microsoft Way",
                    "city": "Redmond",
                    "state": "WA",
                    "postalCode": "98052",
                    "country": "US",
                },
            },
        },
        when,
        caller,
        tenant_id=c.tenant_id,
    )
    agreements.attest(
        pc,
        c.tenant_id,
        {
            "primaryContact": {
                "firstName": c.contact_first,
                "lastName": c.contact_last,
                "email": c.email,
            },
            "templateId": MCA_TEMPLATE_ID,
            "type": "MicrosoftCustomerAgreement",
            "dateAgreed": rules.iso(when),
        },
        when,
        caller,
    )
