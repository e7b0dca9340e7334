"""Subscriptions: by customer, and by term end through an index that the renewal sweep reads
for the days it looks at only."""

from datetime import timedelta

import pytest

from shared.book import Book, RecordExists, RecordNotFound
from shared.book.keys import day_key
from shared.book.subscriptions import TERM_END_TABLE
from tests.shared.book.records import T0, eur, present, subscription, subscription_record

DAY = timedelta(days=1)


def index_days(book: Book) -> list[str]:
    rows = book.tables.table(TERM_END_TABLE).scan("", {}, "index")
    return [row["PartitionKey"] for row in rows]


def test_a_subscription_is_read_back_as_it_was_added(book: Book):
    record = subscription_record(unit_price=eur(690), stripe_subscription_item_id="si_123")
    stored = book.subscriptions.add(record)
    assert (stored.version, book.subscriptions.get("c-1", "sub-1").record) == (1, record)


def test_adding_a_subscription_twice_is_refused(book: Book):
    book.subscriptions.add(subscription_record())
    with pytest.raises(RecordExists, match="subscription sub-1 of customer c-1"):
        book.subscriptions.add(subscription_record())


def test_a_missing_subscription_is_not_found_naming_it(book: Book):
    with pytest.raises(RecordNotFound, match="subscription sub-9 of customer c-1"):
        book.subscriptions.get("c-1", "sub-9")


def test_a_customers_subscriptions_are_one_partition_paged(book: Book):
    for n in range(5):
        book.subscriptions.add(subscription_record(f"sub-{n}", customer_id="c-1"))
    book.subscriptions.add(subscription_record("sub-x", customer_id="c-2"))
    first = book.subscriptions.of_customer("c-1", limit=3)
    rest = book.subscriptions.of_customer("c-1", limit=3, next=first.next)
    assert [r.id for r in first.items + rest.items] == [f"sub-{n}" for n in range(5)]
    assert rest.next is None


def test_the_sweep_finds_what_ends_in_its_window_and_nothing_else(book: Book):
    for days in (0, 1, 59, 60, 61, 200):
        book.subscriptions.add(subscription_record(f"sub-{days}", term_end=T0 + days * DAY))
    book.subscriptions.add(subscription_record("sub-past", term_end=T0 - DAY))
    due = book.subscriptions.due_within(T0, days=60)
    # [now, now + 60 days): the term ending exactly 60 days on is the next window's
    assert [r.id for r in due.items] == ["sub-0", "sub-1", "sub-59"]
    assert due.next is None


def test_the_due_window_is_exact_to_the_instant_within_its_first_and_last_day(book: Book):
    book.subscriptions.add(subscription_record("early", term_end=T0 - timedelta(hours=1)))
    book.subscriptions.add(subscription_record("on-time", term_end=T0 + timedelta(hours=1)))
    book.subscriptions.add(subscription_record("late", term_end=T0 + 2 * DAY + timedelta(hours=1)))
    window = book.subscriptions.due(T0, T0 + 2 * DAY)
    assert [r.id for r in window.items] == ["on-time"]
    with pytest.raises(ValueError, match="ends after it starts"):
        book.subscriptions.due(T0, T0)


def test_a_long_due_list_is_paged_and_a_cursor_keeps_its_window(book: Book):
    for n in range(7):
        book.subscriptions.add(subscription_record(f"sub-{n}", term_end=T0 + (n + 1) * DAY))
    seen, cursor = [], None
    while True:
        page = book.subscriptions.due_within(T0, limit=3, next=cursor)
        seen += [r.id for r in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"sub-{n}" for n in range(7)]


def test_moving_the_term_end_moves_the_index_row(book: Book):
    book.subscriptions.add(subscription_record(term_end=T0 + 10 * DAY))
    book.subscriptions.update(
        "c-1",
        "sub-1",
        lambda r: r.model_copy(update={"subscription": subscription(term_end=T0 + 90 * DAY)}),
    )
    assert index_days(book) == [day_key(T0 + 90 * DAY)]
    assert book.subscriptions.due_within(T0).items == []


def test_a_subscription_that_can_no_longer_renew_leaves_the_index(book: Book):
    book.subscriptions.add(subscription_record(term_end=T0 + 10 * DAY))
    book.subscriptions.update(
        "c-1",
        "sub-1",
        lambda r: r.model_copy(
            update={"subscription": subscription(term_end=T0 + 10 * DAY, status="deleted")}
        ),
    )
    assert index_days(book) == []
    assert book.subscriptions.due_within(T0).items == []


def test_a_change_that_keeps_the_term_end_leaves_the_index_alone(book: Book):
    book.subscriptions.add(subscription_record(term_end=T0 + 10 * DAY))
    row = book.tables.table(TERM_END_TABLE).get(day_key(T0 + 10 * DAY), "sub-1", "row")
    book.subscriptions.update(
        "c-1", "sub-1", lambda r: r.model_copy(update={"unit_price": eur(690)})
    )
    again = book.tables.table(TERM_END_TABLE).get(day_key(T0 + 10 * DAY), "sub-1", "row")
    assert present(again).metadata["etag"] == present(row).metadata["etag"]


def test_a_stale_index_row_is_skipped_by_the_sweep(book: Book):
    # A writer that crashed after writing the new index row but before the record leaves
    # a row that does not match its record: the sweep checks and skips it.
    book.subscriptions.add(subscription_record(term_end=T0 + 200 * DAY))
    book.tables.table(TERM_END_TABLE).upsert(
        {"PartitionKey": day_key(T0 + 5 * DAY), "RowKey": "sub-1", "RecordPk": "c-1",
         "RecordRk": "sub-1", "Version": 2, "TermEnd": T0 + 5 * DAY},
        "stale row",
    )  # fmt: skip
    book.tables.table(TERM_END_TABLE).upsert(
        {"PartitionKey": day_key(T0 + 6 * DAY), "RowKey": "sub-gone", "RecordPk": "c-1",
         "RecordRk": "sub-gone", "Version": 1, "TermEnd": T0 + 6 * DAY},
        "row without record",
    )  # fmt: skip
    assert book.subscriptions.due_within(T0).items == []


def test_a_book_is_loaded_in_batches_with_its_index(book: Book):
    def term_end(n: int):  # one in four due within 20 days, the rest 100 to 109 days on
        return T0 + ((n % 20) if n % 4 == 0 else 100 + n % 10) * DAY

    records = [
        subscription_record(f"sub-{n:03}", customer_id=f"c-{n % 2}", term_end=term_end(n))
        for n in range(200)
    ]
    assert book.subscriptions.load(records) == 200
    assert len(book.subscriptions.due_within(T0, limit=1000).items) == 50
    assert book.subscriptions.of_customer("c-1", limit=1000).items == records[1::2]
