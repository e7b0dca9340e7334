"""`--seed-data book:N`: a partner's existing book of N customers, as both sandboxes know it.

A partner adopting cspflow already has a book: customers in Partner Center with NCE
subscriptions bought over the past years, and the same customers in Stripe. The book is
generated from N and the sandboxes' `--seed` alone (no seed: 0), so the Partner Center
sandbox (sandbox/partner_center/seed_book.py: tenants, agreements, subscriptions) and the
Stripe sandbox (sandbox/stripe/seed_book.py: billing customers) started with the same
`--seed-data` and `--seed` hold the two halves of one book.

Each customer has 1 to 4 subscriptions:

- terms: about 35 % monthly (P1M), 55 % annual (P1Y, billed monthly or annually), 10 %
  triennial (P3Y, billed annually or monthly);
- the current term started a random number of days ago, so term ends are spread over the
  next month, year or three years; some are inside their 7-day cancellation window;
- about 15 % have auto-renew off; about 10 % of the others have a scheduled next-term
  change (more seats, another billing cycle, or an upgrade).

How each customer is found in Stripe, by its position in each block of 50 customers:

| position | `link` | in Stripe |
|---|---|---|
| 0 | `none` | nothing: the customer is unlinked |
| 1-3 | `email` | one customer with an email at the customer's billing domain, no metadata |
| 4 | `two_stripe` | two customers at the customer's billing domain, no metadata: ambiguous |
| 5-6 | `shared_domain` | the two book customers share a billing domain; one Stripe customer at it, no metadata: it matches both, ambiguous |
| 7 | `metadata` | as below, plus one Stripe customer unrelated to the book (another domain) |
| 8-49 | `metadata` | one customer whose `metadata[cspflow_customer_id]` is the tenant id, email at the billing domain |

So a book of 1,000 holds 20 unlinked customers, 20 with two Stripe customers, 20 pairs
sharing one Stripe customer, 60 linked by email and 860 by metadata.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Literal

PREFIX = "book:"
MAX_CUSTOMERS = 100_000
BLOCK = 50

Link = Literal["metadata", "email", "two_stripe", "shared_domain", "none"]
Term = Literal["P1M", "P1Y", "P3Y"]
NextTerm = Literal["more_seats", "billing_cycle", "upgrade"]

# The sandbox catalog's paid offers (sandbox/partner_center/catalog.py) and their upgrades.
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
E3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K39X"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"
OFFERS = (BASIC, STANDARD, PREMIUM, E3, E5)
UPGRADE = {BASIC: STANDARD, STANDARD: PREMIUM, E3: E5}
CYCLES: dict[Term, tuple[str, ...]] = {
    "P1M": ("monthly",),
    "P1Y": ("monthly", "annual"),
    "P3Y": ("annual", "monthly"),
}
TERM_DAYS: dict[Term, int] = {"P1M": 28, "P1Y": 365, "P3Y": 3 * 365}

NAMES = (
    "Adatum", "Alpine Ski", "Bellows", "Blue Yonder", "Coho Winery", "Contoso", "Fourth Coffee",
    "Graphic Design", "Humongous", "Litware", "Lucerne", "Margie", "Northwind", "Proseware",
    "Relecloud", "Southridge", "Trey Research", "VanArsdel", "Wide World", "Woodgrove",
)  # fmt: skip
KINDS = ("Traders", "Labs", "Partners", "Group", "Health", "Logistics", "Studios", "Foods")
FIRST = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo")
LAST = ("Adams", "Baker", "Costa", "Diaz", "Evans", "Fujita", "Garcia", "Haddad", "Ito")
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "NL", "CA", "AU")


@dataclass(frozen=True)
class BookSubscription:
    id: str
    order_id: str
    catalog_item_id: str
    term: Term
    billing_cycle: str
    quantity: int
    days_into_term: int  # how long ago the current term started
    terms_before: int  # terms already completed (renewals) before the current one
    auto_renew: bool
    next_term: NextTerm | None  # a scheduled next-term change


@dataclass(frozen=True)
class StripeCustomer:
    """One Stripe customer of the book: metadata names the tenant when `linked`."""

    key: str  # unique within the book: what the seed's idempotency rests on
    name: str
    email: str
    linked: bool


@dataclass(frozen=True)
class BookCustomer:
    index: int
    tenant_id: str
    company: str
    domain_prefix: str  # <prefix>.onmicrosoft.com
    email: str  # the billing profile's email
    contact_first: str
    contact_last: str
    country: str
    link: Link
    subscriptions: tuple[BookSubscription, ...]
    stripe: tuple[StripeCustomer, ...]

    @property
    def domain(self) -> str:
        return f"{self.domain_prefix}.onmicrosoft.com"

    @property
    def email_domain(self) -> str:
        return self.email.rsplit("@", 1)[1]


def parse(text: str) -> int | None:
    """N of `book:N`, or None when `text` is not a book seed."""
    if not text.startswith(PREFIX):
        return None
    count = text.removeprefix(PREFIX)
    if not count.isdigit() or not 1 <= int(count) <= MAX_CUSTOMERS:
        raise ValueError(f"book:N takes N from 1 to {MAX_CUSTOMERS}, not {count!r}")
    return int(count)


def link_of(index: int) -> Link:
    position = index % BLOCK
    if position == 0:
        return "none"
    if position <= 3:
        return "email"
    if position == 4:
        return "two_stripe"
    if position <= 6:
        return "shared_domain"
    return "metadata"


def book_customers(count: int, seed: int | None = None) -> tuple[BookCustomer, ...]:
    """The book of `count` customers for `seed` (None: 0): the same every time."""
    rng = random.Random(f"cspflow-book-{0 if seed is None else seed}")
    made: list[BookCustomer] = []
    for index in range(count):
        link = link_of(index)
        # The second of a shared-domain pair bills at its sister company's domain.
        billing_index = index - 1 if link == "shared_domain" and index % BLOCK == 6 else index
        email_domain = f"{slug_of(billing_index)}{billing_index:05d}.example"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        customer = BookCustomer(
            index=index,
            tenant_id=tenant_id,
            company=f"{name_of(index)} {index:05d}",
            domain_prefix=f"{slug_of(index)}{index:05d}",
            email=f"billing@{email_domain}",
            contact_first=first,
            contact_last=last,
            country=rng.choice(COUNTRIES),
            link=link,
            subscriptions=tuple(_subscriptions(rng, index)),
            stripe=(),
        )
        made.append(_with_stripe(customer, index))
    return tuple(made)


def name_of(index: int) -> str:
    return f"{NAMES[index % len(NAMES)]} {KINDS[(index // len(NAMES)) % len(KINDS)]}"


def slug_of(index: int) -> str:
    """Letters and digits of the name, at most 16: with 5 digits of index, a domain prefix
    Partner Center accepts (at most 27)."""
    return "".join(ch for ch in name_of(index).lower() if ch.isalnum())[:16]


def _subscriptions(rng: random.Random, index: int) -> list[BookSubscription]:
    made = []
    for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
        roll = rng.random()
        term: Term = "P1M" if roll < 0.35 else "P1Y" if roll < 0.9 else "P3Y"
        offer = rng.choice(OFFERS)
        auto_renew = rng.random() >= 0.15
        next_term: NextTerm | None = None
        if auto_renew and rng.random() < 0.10:
            next_term = rng.choice(("more_seats", "billing_cycle", "upgrade"))
            if next_term == "upgrade" and offer not in UPGRADE:
                next_term = "more_seats"
            if next_term == "billing_cycle" and term == "P1M":
                next_term = "more_seats"
        made.append(
            BookSubscription(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                order_id=f"{rng.getrandbits(48):012x}",
                catalog_item_id=offer,
                term=term,
                billing_cycle=rng.choice(CYCLES[term]),
                quantity=rng.choice((1, 2, 3, 5, 5, 8, 10, 12, 15, 20, 25, 40, 60, 150)),
                days_into_term=rng.randrange(TERM_DAYS[term]),
                terms_before=rng.choice((0, 0, 1, 1, 2, 3)),
                auto_renew=auto_renew,
                next_term=next_term,
            )
        )
    return made


def _with_stripe(customer: BookCustomer, index: int) -> BookCustomer:
    domain = customer.email_domain
    stripe: list[StripeCustomer] = []
    if customer.link == "metadata":
        stripe.append(StripeCustomer(f"c{index}", customer.company, customer.email, True))
        if index % BLOCK == 7:
            stripe.append(
                StripeCustomer(
                    f"walkin{index}", "Walk-in customer", f"pay{index}@example.net", False
                )
            )
    elif customer.link == "email":
        stripe.append(StripeCustomer(f"c{index}", customer.company, customer.email, False))
    elif customer.link == "two_stripe":
        stripe.append(StripeCustomer(f"c{index}", customer.company, customer.email, False))
        stripe.append(
            StripeCustomer(f"c{index}b", f"{customer.company} (EU)", f"finance@{domain}", False)
        )
    elif customer.link == "shared_domain" and index % BLOCK == 5:
        stripe.append(
            StripeCustomer(f"c{index}", f"{customer.company} group", f"ap@{domain}", False)
        )
    return BookCustomer(**{**customer.__dict__, "stripe": tuple(stripe)})
