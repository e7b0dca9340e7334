"""Orders: one per client-chosen id, each status on the customer's timeline once."""

from collections.abc import Callable
from datetime import timedelta

import pytest

from shared.book import Book, RecordExists
from shared.book.orders import Orders
from shared.models import Order
from tests.shared.book.records import order


def now_at(status: str) -> Callable[[Order], Order]:
    return lambda current: current.model_copy(update={"status": status})


def timeline_ids(book: Book, customer_id: str = "c-1") -> list[str]:
    return [entry.id for entry in book.timeline.page(customer_id).items]


def test_the_same_order_placed_twice_is_one_order(book: Book):
    first = book.orders.place(order())
    again = book.orders.place(order())
    assert (first.already_done, again.already_done) == (False, True)
    assert timeline_ids(book) == ["order:ord-1:received"]


def test_an_order_id_reused_with_another_body_is_a_conflict(book: Book):
    book.orders.place(order())
    with pytest.raises(RecordExists, match=r"order ord-1 .* exists already with other content"):
        book.orders.place(order(customer_id="c-2"))


def test_every_status_an_order_reaches_goes_on_the_timeline_in_order(book: Book, clock):
    book.orders.place(order())
    for status in ("placed", "provisioned"):
        clock.advance(timedelta(minutes=5))
        book.orders.update("ord-1", now_at(status))
    assert timeline_ids(book) == [
        "order:ord-1:received",
        "order:ord-1:placed",
        "order:ord-1:provisioned",
    ]
    entry = book.timeline.page("c-1").items[0]
    assert (entry.kind, entry.subject_id, entry.summary) == (
        "order",
        "ord-1",
        "order ord-1 received: 1 line, 34.50 EUR",
    )
    assert book.orders.get("ord-1").record.status == "provisioned"


def test_a_step_retried_after_its_write_still_completes_the_timeline(book: Book):
    # The step wrote the order, then crashed before the timeline entry: simulated by
    # writing the record without a timeline.
    Orders(book.tables, book.clock).place(order())
    assert timeline_ids(book) == []
    assert book.orders.place(order()).already_done
    assert timeline_ids(book) == ["order:ord-1:received"]
