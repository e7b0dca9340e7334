"""SLA clocks: one per promise; the sweep reads running clocks at risk by now, from an
index that completed clocks leave."""

from datetime import timedelta

from shared.book import Book
from shared.book.sla_clocks import AT_RISK_TABLE
from tests.shared.book.records import T0, sla_clock

HOUR = timedelta(hours=1)


def test_running_clocks_at_risk_by_now_are_found_earliest_first(book: Book):
    book.sla_clocks.start(
        sla_clock(
            "ord-late", started_at=T0 - 40 * HOUR, at_risk_at=T0 - 30 * HOUR, deadline=T0 - 2 * HOUR
        )
    )
    book.sla_clocks.start(sla_clock("ord-soon", at_risk_at=T0 + HOUR, deadline=T0 + 3 * HOUR))
    book.sla_clocks.start(sla_clock("ord-later", at_risk_at=T0 + 5 * HOUR, deadline=T0 + 9 * HOUR))
    book.sla_clocks.start(
        sla_clock("ord-next-day", at_risk_at=T0 + 30 * HOUR, deadline=T0 + 40 * HOUR)
    )

    by_now = book.sla_clocks.at_risk(T0 + 2 * HOUR)
    assert [c.subject_id for c in by_now.items] == ["ord-late", "ord-soon"]


def test_a_completed_clock_leaves_the_sweep_and_keeps_its_first_completion(book: Book):
    book.sla_clocks.start(sla_clock("ord-1"))
    done = book.sla_clocks.complete("onboarding", "ord-1", T0 + 2 * HOUR)
    again = book.sla_clocks.complete("onboarding", "ord-1", T0 + 3 * HOUR)
    assert done.record.completed_at == again.record.completed_at == T0 + 2 * HOUR
    assert book.sla_clocks.at_risk(T0 + 10 * HOUR).items == []
    assert list(book.tables.table(AT_RISK_TABLE).scan("", {}, "rows")) == []


def test_start_and_outcome_are_on_the_timeline(book: Book, clock):
    book.sla_clocks.start(sla_clock("ord-1"))
    assert book.sla_clocks.start(sla_clock("ord-1")).already_done
    clock.advance(9 * HOUR)
    book.sla_clocks.complete("onboarding", "ord-1", T0 + 9 * HOUR)
    assert [e.summary for e in book.timeline.page("c-1").items] == [
        "onboarding SLA of ord-1 started, deadline 2026-03-02 17:00 UTC (standard)",
        "onboarding SLA of ord-1 breached (deadline 2026-03-02 17:00 UTC)",
    ]
    assert book.sla_clocks.find("licence_change", "ord-1") is None
    assert book.sla_clocks.get("onboarding", "ord-1").version == 2


def test_a_paused_clock_leaves_the_sweep_and_a_customers_clocks_come_in_start_order(
    book: Book, clock
):
    book.sla_clocks.start(sla_clock("ord-1", at_risk_at=T0 + HOUR, deadline=T0 + 3 * HOUR))
    book.sla_clocks.start(
        sla_clock("ord-0", started_at=T0 - HOUR, at_risk_at=T0 + HOUR, deadline=T0 + 3 * HOUR)
    )
    book.sla_clocks.update(
        "onboarding", "ord-1", lambda c: c.model_copy(update={"phase": "paused"})
    )
    assert [c.subject_id for c in book.sla_clocks.at_risk(T0 + 2 * HOUR).items] == ["ord-0"]
    assert [c.subject_id for c in book.sla_clocks.of_customer("c-1").items] == ["ord-0", "ord-1"]
    assert book.sla_clocks.of_customer("c-2").items == []
