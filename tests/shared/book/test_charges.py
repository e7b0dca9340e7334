"""Charges: what cspflow charged or credited outside the billing run, by customer and
service start."""

from datetime import date, timedelta

import pytest

from shared.book import Book, RecordExists
from tests.shared.book.records import T0, charge, eur


def test_a_charge_recorded_twice_is_one_row(book: Book):
    assert not book.charges.record(charge()).already_done
    assert book.charges.record(charge()).already_done
    stored = book.charges.find("c-1", T0.date(), "change-1")
    assert stored is not None and stored.record.amount == eur(690)


def test_another_charge_under_the_same_id_is_a_conflict(book: Book):
    book.charges.record(charge())
    with pytest.raises(RecordExists, match="charge"):
        book.charges.record(charge(quantity=3))


def test_a_customers_charges_are_read_by_the_day_their_service_starts(book: Book):
    book.charges.record(charge("before", period_start=T0 - timedelta(days=2)))
    book.charges.record(charge("first-day", period_start=T0))
    book.charges.record(charge("last-day", period_start=T0 + timedelta(days=28)))
    book.charges.record(charge("after", period_start=T0 + timedelta(days=29, hours=1),
                               period_end=T0 + timedelta(days=40)))  # fmt: skip
    book.charges.record(charge("other", customer_id="c-2"))
    page = book.charges.of_customer(
        "c-1", starting_from=T0.date(), starting_before=date(2026, 3, 31), limit=1
    )
    rest = book.charges.of_customer(
        "c-1", starting_from=T0.date(), starting_before=date(2026, 3, 31), next=page.next
    )
    assert [c.id for c in page.items + rest.items] == ["first-day", "last-day"]


@pytest.mark.parametrize(
    ("kind", "minor", "error"),
    [
        ("remove_quantity", 690, "a remove_quantity is a credit"),
        ("cancel", 1, "a cancel is a credit"),
        ("add_quantity", -690, "a add_quantity is a charge"),
        ("new", -1, "a new is a charge"),
        ("tax", 10, "tax is not a charge"),
    ],
)
def test_a_charge_is_signed_by_its_kind(kind: str, minor: int, error: str):
    with pytest.raises(ValueError, match=error):
        charge(kind=kind, amount=eur(minor).model_dump())


def test_the_charge_a_stripe_invoice_or_credit_note_names_is_found_for_its_subscription(
    book: Book,
):
    book.charges.record(charge("up", stripe_invoice_id="in_up"))
    book.charges.record(
        charge("down", kind="remove_quantity", amount=eur(-345).model_dump(),
               stripe_invoice_id=None, stripe_credit_note_id="cn_down")
    )  # fmt: skip
    up = book.charges.by_stripe_document("c-1", "in_up", "sub-1")
    down = book.charges.by_stripe_document("c-1", "cn_down", "sub-1")
    assert (up and up.id, down and down.id) == ("up", "down")
    assert book.charges.by_stripe_document("c-1", "in_up", "sub-2") is None
    assert book.charges.by_stripe_document("c-2", "in_up", "sub-1") is None
