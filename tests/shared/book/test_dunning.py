"""Dunning cases: one per unpaid invoice; open cases from an index of open cases only;
every failed payment and the close on the customer's timeline."""

from datetime import timedelta

from shared.book import Book
from shared.book.dunning import OPEN_TABLE
from shared.models import DunningCaseRecord
from tests.shared.book.records import T0, dunning_case, failed_attempt


def another_failure(record: DunningCaseRecord) -> DunningCaseRecord:
    attempt = failed_attempt(at=T0 + timedelta(days=1), decline_code="do_not_honor")
    case = record.case.model_copy(update={"attempts": (*record.case.attempts, attempt)})
    return record.model_copy(update={"case": case})


def recovered(record: DunningCaseRecord) -> DunningCaseRecord:
    case = record.case.model_copy(update={"paid_at": T0 + timedelta(days=2)})
    return DunningCaseRecord(
        customer_id=record.customer_id, case=case, status="recovered", closed_at=case.paid_at
    )


def test_opening_a_case_twice_keeps_the_first(book: Book):
    book.dunning.open(dunning_case())
    book.dunning.update("inv-1", another_failure)
    again = book.dunning.open(dunning_case())  # a duplicate payment_failed webhook
    assert again.already_done and len(again.record.case.attempts) == 2


def test_open_cases_are_listed_and_a_closed_case_leaves_the_list(book: Book):
    for n in range(3):
        book.dunning.open(dunning_case(f"inv-{n}", customer_id=f"c-{n}"))
    assert [c.invoice_id for c in book.dunning.open_cases().items] == ["inv-0", "inv-1", "inv-2"]
    assert book.dunning.customer_in_dunning("c-1")

    book.dunning.update("inv-1", recovered)

    assert [c.invoice_id for c in book.dunning.open_cases().items] == ["inv-0", "inv-2"]
    assert not book.dunning.customer_in_dunning("c-1")
    assert not book.dunning.customer_in_dunning("c-9")
    assert len(list(book.tables.table(OPEN_TABLE).scan("", {}, "rows"))) == 2
    assert book.dunning.get("inv-1").record.status == "recovered"


def test_a_customer_is_in_dunning_even_behind_a_page_of_stale_rows(book: Book, monkeypatch):
    book.dunning.open(dunning_case("inv-9", customer_id="c-1"))
    for n in range(3):  # rows a crashed writer left, for cases no longer open
        book.tables.table(OPEN_TABLE).upsert(
            {"PartitionKey": "open", "RowKey": f"inv-0{n}", "RecordPk": f"inv-0{n}",
             "RecordRk": "", "Version": 1, "CustomerId": "c-1"},
            "stale",
        )  # fmt: skip
    monkeypatch.setattr("shared.book.dunning.DEFAULT_LIMIT", 2)
    assert book.dunning.customer_in_dunning("c-1")


def test_each_failed_payment_and_the_close_are_on_the_timeline(book: Book):
    book.dunning.open(dunning_case())
    book.dunning.update("inv-1", another_failure)
    book.dunning.update("inv-1", recovered)
    entries = book.timeline.page("c-1").items
    assert [(e.kind, e.summary) for e in entries] == [
        ("payment", "payment 1 of invoice inv-1 (34.50 EUR) failed: insufficient_funds"),
        ("payment", "payment 2 of invoice inv-1 (34.50 EUR) failed: do_not_honor"),
        ("dunning", "dunning of invoice inv-1 closed: recovered"),
    ]
    assert book.dunning.find("inv-2") is None


def test_a_customers_open_cases_are_listed_closed_and_other_customers_not(book: Book):
    book.dunning.open(dunning_case("inv-1", "c-1"))
    book.dunning.open(dunning_case("inv-2", "c-1"))
    book.dunning.open(dunning_case("inv-3", "c-2"))
    book.dunning.update("inv-2", recovered)
    assert [c.invoice_id for c in book.dunning.open_of_customer("c-1")] == ["inv-1"]
    assert book.dunning.open_of_customer("c-9") == []
