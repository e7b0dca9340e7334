"""Linking the book's customers to Stripe's (docs/rules.md#stripe-link): metadata first, then
the billing email's domain; a link the book has is kept; what is ambiguous is reported, never
guessed."""

import pytest

from shared.models.book_sync import AmbiguousMatch
from shared.policy.stripe_link import (
    BookCustomer,
    Link,
    StripeCustomer,
    email_domain,
    plan_links,
)

T1 = "0b6a51f1-7f0c-4c5e-9b41-3b0c2f6d1a01"
T2 = "0b6a51f1-7f0c-4c5e-9b41-3b0c2f6d1a02"


def customer(cid: str, domain: str | None = None, *, tenant: str | None = None,
             linked: str | None = None, gone: bool = False) -> BookCustomer:  # fmt: skip
    return BookCustomer(cid, tenant, domain, linked, gone)


def stripe(sid: str, domain: str | None = None, claims: str | None = None) -> StripeCustomer:
    return StripeCustomer(sid, claims, domain)


def ambiguous(key, value, customers, stripes) -> AmbiguousMatch:
    return AmbiguousMatch(
        key=key, value=value, customer_ids=tuple(customers), stripe_customer_ids=tuple(stripes)
    )


CASES = [
    pytest.param(
        [customer("c1", "a.example", tenant=T1)],
        [stripe("cus_1", "other.example", claims=T1)],
        {"links": (Link("c1", "cus_1", "metadata"),)},
        id="metadata names the tenant: linked, whatever the email says",
    ),
    pytest.param(
        [customer("C-Northwind", "a.example", tenant=T1)],
        [stripe("cus_1", claims="c-northwind")],
        {"links": (Link("C-Northwind", "cus_1", "metadata"),)},
        id="metadata names the book's id, in any case",
    ),
    pytest.param(
        [customer("c1", "a.example", tenant=T1)],
        [stripe("cus_2", "a.example", claims=T1), stripe("cus_1", claims="c1")],
        {"ambiguous": (ambiguous("metadata", "c1", ["c1"], ["cus_1", "cus_2"]),)},
        id="two Stripe customers name one customer: ambiguous",
    ),
    pytest.param(
        [customer("c1", "a.example", linked="cus_9"), customer("c2", "a.example")],
        [stripe("cus_9", "a.example")],
        {"already_linked": ("c1",), "unlinked": ("c2",)},
        id="a link is kept and its Stripe customer is nobody else's",
    ),
    pytest.param(
        [customer("c1", "a.example"), customer("c2", "b.example")],
        [stripe("cus_1", "a.example"), stripe("cus_2", "b.example")],
        {"links": (Link("c1", "cus_1", "email_domain"), Link("c2", "cus_2", "email_domain"))},
        id="one Stripe customer and one customer at a domain: linked",
    ),
    pytest.param(
        [customer("c1", "a.example")],
        [stripe("cus_2", "a.example"), stripe("cus_1", "a.example")],
        {"ambiguous": (ambiguous("email_domain", "a.example", ["c1"], ["cus_1", "cus_2"]),)},
        id="two Stripe customers at the customer's domain: ambiguous",
    ),
    pytest.param(
        [customer("c2", "shared.example"), customer("c1", "shared.example")],
        [stripe("cus_1", "shared.example")],
        {"ambiguous": (ambiguous("email_domain", "shared.example", ["c1", "c2"], ["cus_1"]),)},
        id="one Stripe customer matches two customers of the book: ambiguous, neither linked",
    ),
    pytest.param(
        [customer("c1", "shared.example", tenant=T1), customer("c2", "shared.example")],
        [stripe("cus_1", claims=T1), stripe("cus_2", "shared.example")],
        {
            "links": (Link("c1", "cus_1", "metadata"),),
            "ambiguous": (ambiguous("email_domain", "shared.example", ["c1", "c2"], ["cus_2"]),),
        },
        id="a sister company linked by metadata still makes the domain ambiguous",
    ),
    pytest.param(
        [customer("c1", "a.example")],
        [stripe("cus_1", "a.example", claims=T2)],
        {"unlinked": ("c1",)},
        id="a Stripe customer whose metadata names someone else is never matched by domain",
    ),
    pytest.param(
        [customer("c1", None), customer("c2", "b.example")],
        [stripe("cus_1", None), stripe("cus_2", "c.example")],
        {"unlinked": ("c1", "c2")},
        id="no email, or nobody at the domain: unlinked",
    ),
    pytest.param(
        [
            customer("c1", "a.example", tenant=T1, gone=True),
            customer("c2", "b.example", linked="cus_2", gone=True),
            customer("c3", "b.example"),
        ],
        [stripe("cus_1", claims=T1), stripe("cus_2", "b.example")],
        {"unlinked": ("c3",)},
        id="customers gone from Partner Center are left out and keep their links",
    ),
    pytest.param([], [stripe("cus_1", "a.example")], {}, id="an empty book links nothing"),
]


@pytest.mark.parametrize(("book", "stripes", "expected"), CASES)
def test_links_follow_the_rule(book, stripes, expected):
    plan = plan_links(book, stripes)
    assert plan.links == expected.get("links", ())
    assert plan.already_linked == expected.get("already_linked", ())
    assert plan.unlinked == expected.get("unlinked", ())
    assert plan.ambiguous == expected.get("ambiguous", ())


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        (None, None),
        ("", None),
        ("not-an-address", None),
        ("billing@", None),
        ("AP@Fabrikam.Example.", "fabrikam.example"),
        ("a@b@contoso.example", "contoso.example"),
    ],
)
def test_the_domain_of_an_email(email, domain):
    assert email_domain(email) == domain
