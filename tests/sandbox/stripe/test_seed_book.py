"""`--seed-data book:N` in the Stripe sandbox, read through the official SDK: the Stripe half
of the generated book, the same ids for the same seed, seeded once."""

from collections import Counter
from typing import Any

from sandbox.common.book import book_customers
from sandbox.stripe.seed import PARTNER_CUSTOMER_KEY
from sandbox.stripe.seed_book import customer_id

from .harness import client, running_sandbox


def every_customer(base_url: str) -> list[dict[str, Any]]:
    sdk = client(base_url)
    return [c.to_dict() for c in sdk.v1.customers.list({"limit": 100}).auto_paging_iter()]


def test_the_stripe_half_of_the_book_is_there_with_its_metadata_and_emails(tmp_path, clock):
    with running_sandbox(tmp_path, clock, seed_data="book:100", seed=3) as sb:
        found = {c["id"]: c for c in every_customer(sb.base_url)}
    book = book_customers(100, 3)
    expected = {customer_id(3, s.key): (c, s) for c in book for s in c.stripe}
    assert set(found) == set(expected)
    for stripe_id, (c, s) in expected.items():
        cus = found[stripe_id]
        assert (cus["name"], cus["email"]) == (s.name, s.email)
        assert cus["metadata"] == ({PARTNER_CUSTOMER_KEY: c.tenant_id} if s.linked else {})
    claimed = Counter(c["metadata"].get(PARTNER_CUSTOMER_KEY) for c in found.values())
    assert claimed[None] == 2 + 6 + 4 + 2  # walk-ins, email-only, two-per-customer, shared


def test_a_restart_keeps_the_book_as_it_is(tmp_path, clock):
    with running_sandbox(tmp_path, clock, seed_data="book:10") as sb:
        first = every_customer(sb.base_url)
    with running_sandbox(tmp_path, clock, seed_data="book:20") as sb:
        assert every_customer(sb.base_url) == first
