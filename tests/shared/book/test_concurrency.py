"""Optimistic concurrency: a writer working from a stale read gets a typed conflict and
re-reads; no update is ever lost."""

import threading
from datetime import timedelta

import pytest

from shared.book import Book, ConcurrencyConflict
from shared.book._repository import UPDATE_ATTEMPTS
from shared.errors import TransientError
from shared.models import Money, SubscriptionRecord
from tests.shared.book.records import T0, eur, present, subscription_record


def with_quantity(record: SubscriptionRecord, quantity: int) -> SubscriptionRecord:
    sub = record.subscription.model_copy(update={"quantity": quantity})
    return record.model_copy(update={"subscription": sub})


def with_price(record: SubscriptionRecord, price: Money) -> SubscriptionRecord:
    return record.model_copy(update={"unit_price": price})


def test_of_two_writers_on_one_subscription_the_second_gets_a_conflict_and_loses_nothing(
    book: Book,
):
    book.subscriptions.add(subscription_record(quantity=5))
    first = book.subscriptions.get("c-1", "sub-1")
    second = book.subscriptions.get("c-1", "sub-1")

    book.subscriptions.replace(first, with_quantity(first.record, 8))
    with pytest.raises(ConcurrencyConflict, match="sub-1 of customer c-1") as conflict:
        book.subscriptions.replace(second, with_price(second.record, eur(690)))
    assert isinstance(conflict.value, TransientError)  # the step's retry re-reads

    fresh = book.subscriptions.get("c-1", "sub-1")
    book.subscriptions.replace(fresh, with_price(fresh.record, eur(690)))

    final = book.subscriptions.get("c-1", "sub-1").record
    assert (final.subscription.quantity, final.unit_price) == (8, eur(690))


def test_update_re_reads_and_re_applies_on_a_conflict(book: Book):
    book.subscriptions.add(subscription_record(quantity=5))
    calls = []

    def add_three_seats(record: SubscriptionRecord) -> SubscriptionRecord:
        calls.append(record.subscription.quantity)
        if len(calls) == 1:  # another writer gets in between our read and our write
            book.subscriptions.update("c-1", "sub-1", lambda r: with_price(r, eur(690)))
        return with_quantity(record, record.subscription.quantity + 3)

    stored = book.subscriptions.update("c-1", "sub-1", add_three_seats)

    assert calls == [5, 5]  # the second call saw the other writer's version
    assert (stored.record.subscription.quantity, stored.record.unit_price) == (8, eur(690))
    assert stored.version == 3


def test_concurrent_updates_from_threads_all_land(book: Book):
    book.subscriptions.add(subscription_record(quantity=1))

    def add_seats() -> None:
        for _ in range(5):
            while True:  # as the Durable retry runs a step whose update kept losing
                try:
                    book.subscriptions.update(
                        "c-1", "sub-1", lambda r: with_quantity(r, r.subscription.quantity + 1)
                    )
                    break
                except ConcurrencyConflict:
                    continue

    writers = [threading.Thread(target=add_seats) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    stored = book.subscriptions.get("c-1", "sub-1")
    assert stored.record.subscription.quantity == 1 + 3 * 5
    assert stored.version == 1 + 3 * 5


def test_update_gives_up_with_a_conflict_under_sustained_contention(book: Book):
    book.subscriptions.add(subscription_record(quantity=1))

    def always_overtaken(record: SubscriptionRecord) -> SubscriptionRecord:
        book.subscriptions.update(
            "c-1",
            "sub-1",
            lambda r: with_price(r, eur(r.unit_price.amount_minor + 1 if r.unit_price else 1)),
        )
        return with_quantity(record, record.subscription.quantity + 1)

    with pytest.raises(ConcurrencyConflict):
        book.subscriptions.update("c-1", "sub-1", always_overtaken)
    stored = book.subscriptions.get("c-1", "sub-1").record
    assert stored.subscription.quantity == 1  # none of the overtaken writes landed
    assert stored.unit_price == eur(UPDATE_ATTEMPTS)


def test_an_update_that_changes_nothing_writes_nothing(book: Book):
    added = book.subscriptions.add(subscription_record())
    same = book.subscriptions.update("c-1", "sub-1", lambda record: record)
    assert (same.etag, same.version) == (added.etag, 1)


def test_the_term_end_index_survives_two_writers_moving_the_term_end(book: Book):
    # Writer A moves the term end from day 30 to day 40; writer B, having read A's write,
    # moves it back to day 30 before A removes its old row. A must not remove B's row.
    book.subscriptions.add(subscription_record(term_end=T0 + timedelta(days=30)))
    before = book.subscriptions.get("c-1", "sub-1")
    moved = subscription_record(term_end=T0 + timedelta(days=40))
    back = subscription_record(term_end=T0 + timedelta(days=30))

    index = book.subscriptions.indexes[0]
    repo = book.subscriptions
    keys = repo.keys(before.record)
    # A's steps, with B's whole write between A's record write and A's clean-up:
    repo._write_index_rows(before, moved, keys, before.version + 1)
    etag = repo.table.replace(repo._entity(moved, before.version + 1), before.etag, "A")
    after_a = type(before)(moved, etag, before.version + 1)
    repo.replace(after_a, back)  # B
    repo._drop_index_rows(before, moved, keys)  # A's clean-up comes late

    due = book.subscriptions.due(T0, T0 + timedelta(days=60)).items
    assert [r.term_end for r in due] == [T0 + timedelta(days=30)]
    assert book.tables.table(index.table).get(*present(index.key(back)), what="row") is not None
