"""KPI events: append-only, one per KPI and subject in a month, read by month."""

from datetime import UTC, date, datetime

from shared.book import Book
from tests.shared.book.records import kpi_event

MARCH = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 0, 1, tzinfo=UTC)


def test_an_outcome_recorded_twice_counts_once(book: Book):
    assert not book.kpi_events.record(kpi_event()).already_done
    again = book.kpi_events.record(kpi_event(duration_seconds=99))  # a replayed step
    assert again.already_done and again.record.duration_seconds == 3600
    assert len(book.kpi_events.of_month(date(2026, 3, 1)).items) == 1


def test_events_are_read_by_the_month_they_occurred_in_utc(book: Book):
    book.kpi_events.record(kpi_event("ord-1", occurred_at=MARCH))
    book.kpi_events.record(kpi_event("ord-2", occurred_at=APRIL))
    book.kpi_events.record(
        kpi_event(
            "sla-1", name="sla_outcome", outcome="met", duration_seconds=None, occurred_at=APRIL
        )
    )
    assert [e.subject_id for e in book.kpi_events.of_month(MARCH).items] == ["ord-1"]
    assert [e.subject_id for e in book.kpi_events.of_month(APRIL).items] == ["sla-1", "ord-2"]
    only = book.kpi_events.of_month(APRIL, "time_to_value")
    assert [e.subject_id for e in only.items] == ["ord-2"]
    assert book.kpi_events.find("time_to_value", "ord-2", APRIL) == kpi_event(
        "ord-2", occurred_at=APRIL
    )
    assert book.kpi_events.find("time_to_value", "ord-2", MARCH) is None


def test_a_busy_month_is_paged(book: Book):
    for n in range(5):
        book.kpi_events.record(kpi_event(f"ord-{n}"))
    first = book.kpi_events.of_month(date(2026, 3, 1), limit=3)
    rest = book.kpi_events.of_month(date(2026, 3, 1), limit=3, next=first.next)
    assert len(first.items) + len(rest.items) == 5 and rest.next is None
