"""Customers: by id, by Partner Center tenant, by Stripe customer, and all of them paged."""

from uuid import UUID

import pytest

from shared.book import Book, RecordExists
from tests.shared.book.records import TENANT, customer, present


def test_a_customer_is_added_once_under_its_id(book: Book):
    first = book.customers.ensure(customer())
    again = book.customers.ensure(customer())
    assert (first.already_done, again.already_done) == (False, True)
    with pytest.raises(RecordExists, match=r"customer c-1 .* with other content"):
        book.customers.ensure(customer(company_name="Fabrikam"))


def test_a_customer_is_found_by_its_tenant_and_its_stripe_customer(book: Book):
    book.customers.ensure(customer(tenant_id=TENANT, stripe_customer_id="cus_Q1"))
    assert present(book.customers.by_tenant(TENANT.upper())).record.id == "c-1"
    assert present(book.customers.by_stripe_customer("cus_Q1")).record.id == "c-1"
    assert book.customers.by_tenant("00000000-0000-0000-0000-000000000000") is None
    assert book.customers.by_stripe_customer("cus_nobody") is None


def test_a_customer_whose_tenant_is_set_later_is_found_by_it(book: Book):
    book.customers.ensure(customer())
    assert book.customers.by_tenant(TENANT) is None
    book.customers.update("c-1", lambda c: c.model_copy(update={"tenant_id": UUID(TENANT)}))
    assert present(book.customers.by_tenant(TENANT)).record.id == "c-1"


def test_a_tenant_moved_to_another_customer_is_found_on_that_one_only(book: Book):
    book.customers.ensure(customer("c-1", tenant_id=TENANT))
    book.customers.ensure(customer("c-2"))
    book.customers.update("c-1", lambda c: c.model_copy(update={"tenant_id": None}))
    book.customers.update("c-2", lambda c: c.model_copy(update={"tenant_id": UUID(TENANT)}))
    assert present(book.customers.by_tenant(TENANT)).record.id == "c-2"


def test_every_customer_is_listed_page_by_page(book: Book):
    for n in range(5):
        book.customers.ensure(customer(f"c-{n}"))
    first = book.customers.page(limit=2)
    second = book.customers.page(limit=2, next=first.next)
    third = book.customers.page(limit=2, next=second.next)
    assert [c.id for c in first.items + second.items + third.items] == [f"c-{n}" for n in range(5)]
    assert third.next is None
