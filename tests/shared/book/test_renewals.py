"""Renewals: one per subscription and term end, opened once whatever the sweep does, with
the decision and the outcome on the timeline."""

from datetime import timedelta

from shared.book import Book
from tests.shared.book.records import T0, renewal

TERM_END = T0 + timedelta(days=30)


def test_a_renewal_opened_twice_keeps_what_the_first_one_recorded(book: Book):
    book.renewals.open(renewal())
    book.renewals.update(
        "sub-1", TERM_END, lambda r: r.model_copy(update={"reminders_sent": (T0,)})
    )
    again = book.renewals.open(renewal())  # a second sweep
    assert again.already_done and again.record.reminders_sent == (T0,)


def test_the_decision_and_the_outcome_go_on_the_timeline(book: Book):
    book.renewals.open(renewal())
    book.renewals.update(
        "sub-1",
        TERM_END,
        lambda r: r.model_copy(
            update={"decision": "renew", "decided_at": T0, "decided_by": "customer"}
        ),
    )
    book.renewals.update(
        "sub-1",
        TERM_END,
        lambda r: r.model_copy(update={"outcome": "renewed", "closed_at": TERM_END}),
    )
    assert [e.summary for e in book.timeline.page("c-1").items] == [
        "renewal of subscription sub-1 (term ending 2026-04-01T09:00:00.000000Z): "
        "decision renew by customer",
        "renewal of subscription sub-1 (term ending 2026-04-01T09:00:00.000000Z): renewed",
    ]


def test_a_subscriptions_renewals_come_oldest_term_first(book: Book):
    for years in (2, 0, 1):
        book.renewals.open(renewal(term_end=TERM_END + timedelta(days=365 * years)))
    terms = [r.term_end for r in book.renewals.of_subscription("sub-1").items]
    assert terms == sorted(terms) and len(terms) == 3
    assert book.renewals.find("sub-1", TERM_END + timedelta(days=1)) is None
    assert book.renewals.get("sub-1", TERM_END).record.term_end == TERM_END
