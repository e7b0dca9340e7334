"""A customer's timeline: in time order, from an instant on, each fact once."""

from datetime import timedelta

from shared.book import Book
from shared.book._table import json_properties
from shared.book.keys import key
from shared.book.timeline import _MARKERS, Timeline
from shared.models import FieldChange, TimelineEntry
from tests.shared.book.records import T0


def entry(entry_id: str, minutes: int, customer_id: str = "c-1", **overrides) -> TimelineEntry:
    data = {
        "customer_id": customer_id,
        "id": entry_id,
        "at": T0 + timedelta(minutes=minutes),
        "kind": "order",
        "summary": f"fact {entry_id}",
    }
    return TimelineEntry.model_validate(data | overrides)


def test_entries_come_back_in_time_order_whatever_order_they_were_written_in(book: Book):
    for entry_id, minutes in (("b", 20), ("c", 30), ("a", 10)):
        book.timeline.append(entry(entry_id, minutes))
    book.timeline.append(entry("other", 15, customer_id="c-2"))
    assert [e.id for e in book.timeline.page("c-1").items] == ["a", "b", "c"]


def test_a_fact_appended_again_at_another_time_is_recorded_once(book: Book):
    book.timeline.append(entry("order:ord-1:placed", 10))
    again = book.timeline.append(entry("order:ord-1:placed", 25))  # a retried step
    assert again.already_done and again.record.at == T0 + timedelta(minutes=10)
    assert len(book.timeline.page("c-1").items) == 1


def test_the_timeline_is_read_from_an_instant_on_and_paged(book: Book):
    for minutes in range(0, 50, 10):
        book.timeline.append(entry(f"e{minutes}", minutes))
    since = book.timeline.page("c-1", since=T0 + timedelta(minutes=20), limit=2)
    rest = book.timeline.page("c-1", since=T0 + timedelta(minutes=20), limit=2, next=since.next)
    assert [e.id for e in since.items + rest.items] == ["e20", "e30", "e40"]
    assert rest.next is None


def test_an_entry_keeps_its_changes_and_odd_ids(book: Book):
    change = FieldChange(field="quantity", before=5, after=7)
    book.timeline.append(entry("pc/sync#1?", 5, changes=(change,)))
    found = book.timeline.entry("c-1", "pc/sync#1?")
    assert found is not None and found.changes == (change,)
    assert book.timeline.entry("c-1", "missing") is None


def test_an_append_stopped_between_the_marker_and_the_row_is_completed_by_the_next(book: Book):
    # the first writer inserted the marker (which carries the entry) and then stopped
    first = entry("order:ord-9:placed", 10)
    pk, row_key = key(first.customer_id), Timeline._row_key(first)
    marker = Timeline._marker(pk, key(_MARKERS + first.id), row_key, first.model_dump_json())
    assert book.timeline.table.insert(marker, "a marker alone") is not None
    assert book.timeline.page("c-1").items == []
    assert book.timeline.entry("c-1", first.id) == first  # the marker answers on its own
    # the step is retried, at another time: the first entry's row is written, once
    again = book.timeline.append(entry("order:ord-9:placed", 25))
    assert again.already_done and again.record == first
    assert book.timeline.page("c-1").items == [first]
    assert book.timeline.append(entry("order:ord-9:placed", 40)).already_done
    assert book.timeline.page("c-1").items == [first]


def test_a_marker_written_before_markers_carried_the_entry_still_answers(book: Book):
    old = entry("order:ord-8:placed", 10)
    pk, row_key = key(old.customer_id), Timeline._row_key(old)
    book.timeline.table.insert(
        {"PartitionKey": pk, "RowKey": key(_MARKERS + old.id), "Entry": row_key}, "old marker"
    )
    book.timeline.table.insert(
        {"PartitionKey": pk, "RowKey": row_key, "Kind": old.kind,
         **json_properties(old.model_dump_json())},
        "old row",
    )  # fmt: skip
    assert book.timeline.entry("c-1", old.id) == old
    again = book.timeline.append(entry("order:ord-8:placed", 30))
    assert again.already_done and again.record == old
    assert book.timeline.page("c-1").items == [old]
