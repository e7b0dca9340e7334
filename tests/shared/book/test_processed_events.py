"""Processed webhook events: a duplicate delivery is recognised as already done."""

from shared.book import Book
from tests.shared.book.records import processed_event


def test_a_duplicate_delivery_is_already_done(book: Book):
    assert book.processed_events.seen("stripe", "evt_1") is None
    assert not book.processed_events.record(processed_event()).already_done
    assert book.processed_events.record(processed_event(outcome="again")).already_done
    assert book.processed_events.seen("stripe", "evt_1") == processed_event()


def test_the_same_event_id_from_two_sources_is_two_events(book: Book):
    book.processed_events.record(processed_event("a/b#1"))
    other = book.processed_events.record(processed_event("a/b#1", source="partner_center"))
    assert not other.already_done
    seen = book.processed_events.seen("partner_center", "a/b#1")
    assert seen is not None and seen.source == "partner_center"
    assert book.processed_events.table.name.endswith("Events")
