"""`--seed-data book:N`'s book (sandbox/common/book.py): the same for the same N and seed,
the mix of terms and renewal settings it promises, and the Stripe side's table exactly."""

import argparse
from collections import Counter

import pytest

from sandbox.common.book import BLOCK, book_customers, link_of, parse
from sandbox.common.demo import seed_data


def test_the_same_n_and_seed_give_the_same_book_and_another_seed_another():
    assert book_customers(60, 7) == book_customers(60, 7)
    assert book_customers(60) == book_customers(60, 0)
    other = book_customers(60, 8)
    assert {c.tenant_id for c in other}.isdisjoint(c.tenant_id for c in book_customers(60, 7))
    # A longer book starts with the shorter one.
    assert book_customers(100, 7)[:60] == book_customers(60, 7)


def test_a_thousand_customers_mix_terms_renewal_settings_and_term_ends():
    book = book_customers(1000)
    subs = [s for c in book for s in c.subscriptions]
    assert 1000 < len(subs) < 4000
    terms = Counter(s.term for s in subs)
    assert 0.30 < terms["P1M"] / len(subs) < 0.40
    assert 0.50 < terms["P1Y"] / len(subs) < 0.60
    assert 0.07 < terms["P3Y"] / len(subs) < 0.13
    assert {s.billing_cycle for s in subs if s.term == "P1Y"} == {"monthly", "annual"}
    off = [s for s in subs if not s.auto_renew]
    assert 0.10 < len(off) / len(subs) < 0.20
    scheduled = [s for s in subs if s.next_term]
    assert all(s.auto_renew for s in scheduled)
    assert {s.next_term for s in scheduled} == {"more_seats", "billing_cycle", "upgrade"}
    annual_days = [s.days_into_term for s in subs if s.term == "P1Y"]
    assert min(annual_days) < 30 and max(annual_days) > 330  # ends over the whole year
    assert len({c.tenant_id for c in book}) == len({c.domain_prefix for c in book}) == 1000
    assert all(len(c.domain_prefix) <= 27 and c.domain_prefix.isalnum() for c in book)


def test_the_stripe_side_follows_its_table():
    book = book_customers(1000)
    links = Counter(c.link for c in book)
    assert links == {
        "metadata": 860,
        "email": 60,
        "two_stripe": 20,
        "shared_domain": 40,
        "none": 20,
    }
    by_index = {c.index: c for c in book}
    for c in book:
        stripe = c.stripe
        if c.link == "none":
            assert stripe == ()
        elif c.link == "metadata":
            assert stripe[0].linked and stripe[0].email == c.email
        elif c.link == "email":
            assert [(s.linked, s.email) for s in stripe] == [(False, c.email)]
        elif c.link == "two_stripe":
            assert [s.email.split("@")[1] for s in stripe] == [c.email_domain] * 2
            assert not any(s.linked for s in stripe)
        elif c.index % BLOCK == 5:  # the first of a pair holds the pair's one Stripe customer
            sister = by_index[c.index + 1]
            assert sister.email_domain == c.email_domain and sister.stripe == ()
            assert [s.email.split("@")[1] for s in stripe] == [c.email_domain]
    keys = [s.key for c in book for s in c.stripe]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("index", "link"),
    [(0, "none"), (1, "email"), (3, "email"), (4, "two_stripe"), (5, "shared_domain"),
     (6, "shared_domain"), (7, "metadata"), (49, "metadata"), (50, "none")],
)  # fmt: skip
def test_each_position_in_a_block_has_its_link(index, link):
    assert link_of(index) == link


@pytest.mark.parametrize("text", ["book:0", "book:x", "book:100001", "book:"])
def test_a_book_seed_takes_n_from_1_to_100000(text):
    with pytest.raises(ValueError, match="book:N"):
        parse(text)
    with pytest.raises(argparse.ArgumentTypeError):
        seed_data(text)


@pytest.mark.parametrize("text", ["demo", "none", "book:1", "book:1000"])
def test_seed_data_accepts_demo_none_and_book(text):
    assert seed_data(text) == text
    assert parse("demo") is None


def test_seed_data_refuses_anything_else():
    with pytest.raises(argparse.ArgumentTypeError, match="demo, none or book:N"):
        seed_data("everything")
