"""Notices: recorded once under their idempotency key; a second record is "already done"."""

from datetime import timedelta

from shared.book import Book
from tests.shared.book.records import T0, notice


def test_a_notice_recorded_twice_is_already_done_the_second_time(book: Book):
    first = book.notices.record(notice())
    again = book.notices.record(notice(sent_at=T0 + timedelta(minutes=1)))  # a retried step
    assert (first.already_done, again.already_done) == (False, True)
    assert again.record.sent_at == T0  # the book keeps the first
    assert book.notices.sent("renewal-sub-1/remind-60d") == notice()
    assert book.notices.sent("renewal-sub-1/remind-30d") is None


def test_a_notice_is_on_the_timeline_once_at_the_time_it_was_sent(book: Book):
    book.notices.record(notice())
    book.notices.record(notice())
    [entry] = book.timeline.page("c-1").items
    assert (entry.kind, entry.at, entry.id) == ("notice", T0, "notice:renewal-sub-1/remind-60d")
    assert entry.summary == (
        "renewal_reminder sent to ada@contoso.example: "
        "Your Microsoft 365 subscription renews in 60 days"
    )


def test_a_notice_with_a_long_key_is_named_on_the_timeline_by_its_hash(book: Book):
    book.notices.record(notice("k" * 300))
    [entry] = book.timeline.page("c-1").items
    assert entry.id.startswith("notice:sha256:") and len(entry.id) == len("notice:sha256:") + 64
