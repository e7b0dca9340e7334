"""Invoices: a customer's invoices in one partition; issue and payment on the timeline."""

import pytest

from shared.book import Book, RecordExists
from tests.shared.book.records import invoice


def test_a_customers_invoices_are_listed_and_nobody_elses(book: Book):
    for n in range(3):
        book.invoices.issue(invoice(f"inv-{n}"))
    book.invoices.issue(invoice("inv-x", customer_id="c-2"))
    page = book.invoices.of_customer("c-1", limit=2)
    rest = book.invoices.of_customer("c-1", next=page.next)
    assert [i.id for i in page.items + rest.items] == ["inv-0", "inv-1", "inv-2"]
    assert book.invoices.find("c-2", "inv-0") is None


def test_an_invoice_id_reused_with_other_lines_is_a_conflict(book: Book):
    book.invoices.issue(invoice())
    assert book.invoices.issue(invoice()).already_done
    with pytest.raises(RecordExists, match="invoice inv-1 of customer c-1"):
        book.invoices.issue(invoice(due_at=invoice().issued_at))


def test_issue_and_payment_are_on_the_timeline_a_draft_is_not(book: Book):
    book.invoices.issue(invoice(status="draft"))
    assert book.timeline.page("c-1").items == []
    book.invoices.update("c-1", "inv-1", lambda i: i.model_copy(update={"status": "open"}))
    book.invoices.update(
        "c-1",
        "inv-1",
        lambda i: i.model_copy(update={"status": "paid", "stripe_invoice_id": "in_1"}),
    )
    entries = book.timeline.page("c-1").items
    assert [(e.kind, e.source, e.summary) for e in entries] == [
        ("invoice", "cspflow", "invoice inv-1 issued: 34.50 EUR, due 2026-03-16"),
        ("payment", "stripe", "invoice inv-1 paid: 34.50 EUR"),
    ]
    assert book.invoices.get("c-1", "inv-1").version == 3


def test_the_invoice_a_stripe_event_names_is_found_in_its_customers_partition(book: Book):
    book.invoices.issue(invoice("inv-1", stripe_invoice_id="in_A"))
    book.invoices.issue(invoice("inv-2", stripe_invoice_id="in_B"))
    book.invoices.issue(invoice("inv-3", customer_id="c-2", stripe_invoice_id="in_C"))
    found = book.invoices.by_stripe_invoice("c-1", "in_B")
    assert found is not None and found.record.id == "inv-2"
    assert book.invoices.by_stripe_invoice("c-1", "in_C") is None
    assert book.invoices.by_stripe_invoice("c-9", "in_A") is None
