"""Which Stripe customer pays for which customer of the book (docs/rules.md#stripe-link).

The book sync links each customer of the book to its Stripe customer, and never guesses:

1. A link the book has is kept, and its Stripe customer is nobody else's.
2. A Stripe customer whose metadata `cspflow_customer_id` names a customer (its id in the
   book, or its tenant id) is that customer's; two naming the same customer are ambiguous.
3. Otherwise a customer is matched by the domain of its billing contact's email with a
   Stripe customer's, among Stripe customers that name nobody in their metadata: one Stripe
   customer and one customer of the book at that domain are linked; two Stripe customers at
   the customer's domain, or two customers of the book at the Stripe customer's domain, are
   ambiguous, reported with every customer and Stripe customer at that domain.
4. A customer that nothing matches is unlinked. Customers flagged gone from Partner Center
   are left out (they keep a link they have).

Pure: the caller reads both sides and writes the links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from shared.models.book_sync import AmbiguousMatch, LinkKey


@dataclass(frozen=True)
class BookCustomer:
    customer_id: str
    tenant_id: str | None
    email_domain: str | None  # of the billing contact
    stripe_customer_id: str | None  # the link the book has
    gone: bool = False


@dataclass(frozen=True)
class StripeCustomer:
    id: str
    claims: str | None  # metadata cspflow_customer_id
    email_domain: str | None


@dataclass(frozen=True)
class Link:
    customer_id: str
    stripe_customer_id: str
    by: LinkKey


@dataclass(frozen=True)
class LinkPlan:
    links: tuple[Link, ...]
    already_linked: tuple[str, ...]
    unlinked: tuple[str, ...]
    ambiguous: tuple[AmbiguousMatch, ...]


def email_domain(email: str | None) -> str | None:
    """The lower-case domain of an email address (None without one)."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def plan_links(book: Iterable[BookCustomer], stripe: Iterable[StripeCustomer]) -> LinkPlan:
    """The links to make, and what stays unlinked or ambiguous (in customer id order)."""
    everyone = sorted(book, key=lambda c: c.customer_id)
    taken = {c.stripe_customer_id for c in everyone if c.stripe_customer_id}
    present = [c for c in everyone if not c.gone]
    free = sorted((s for s in stripe if s.id not in taken), key=lambda s: s.id)

    claims: dict[str, list[StripeCustomer]] = defaultdict(list)
    at_domain: dict[str, list[StripeCustomer]] = defaultdict(list)
    for s in free:
        if s.claims:
            claims[s.claims.strip().lower()].append(s)
        elif s.email_domain:
            at_domain[s.email_domain].append(s)
    customers_at: dict[str, list[BookCustomer]] = defaultdict(list)
    for c in present:
        if c.email_domain:
            customers_at[c.email_domain].append(c)

    links: list[Link] = []
    ambiguous: list[AmbiguousMatch] = []
    unlinked: list[str] = []
    by_domain: dict[str, list[BookCustomer]] = defaultdict(list)
    for c in present:
        if c.stripe_customer_id:
            continue
        names = {c.customer_id.lower(), (c.tenant_id or "").lower()} - {""}
        claimed = sorted({s.id for name in names for s in claims.get(name, [])})
        if len(claimed) == 1:
            links.append(Link(c.customer_id, claimed[0], "metadata"))
        elif claimed:
            ambiguous.append(
                AmbiguousMatch(
                    key="metadata",
                    value=c.customer_id,
                    customer_ids=(c.customer_id,),
                    stripe_customer_ids=tuple(claimed),
                )
            )
        elif c.email_domain:
            by_domain[c.email_domain].append(c)
        else:
            unlinked.append(c.customer_id)

    for domain in sorted(by_domain):
        waiting, candidates = by_domain[domain], at_domain.get(domain, [])
        if not candidates:
            unlinked += [c.customer_id for c in waiting]
        elif len(candidates) == 1 and len(customers_at[domain]) == 1:
            links.append(Link(waiting[0].customer_id, candidates[0].id, "email_domain"))
        else:
            ambiguous.append(
                AmbiguousMatch(
                    key="email_domain",
                    value=domain,
                    customer_ids=tuple(c.customer_id for c in customers_at[domain]),
                    stripe_customer_ids=tuple(s.id for s in candidates),
                )
            )
    return LinkPlan(
        links=tuple(sorted(links, key=lambda link: link.customer_id)),
        already_linked=tuple(c.customer_id for c in present if c.stripe_customer_id),
        unlinked=tuple(sorted(unlinked)),
        ambiguous=tuple(ambiguous),
    )
