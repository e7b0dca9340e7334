"""Licence changes: one per change id; a subscription's open changes from an index that
only holds open ones."""

from datetime import timedelta

from shared.book import Book
from shared.book.licence_changes import OPEN_TABLE
from tests.shared.book.records import T0, licence_change


def test_a_subscriptions_open_changes_are_listed_and_a_closed_one_leaves_the_list(book: Book):
    book.licence_changes.request(licence_change("chg-1"))
    book.licence_changes.request(
        licence_change("chg-2", kind="decrease", quantity_after=3, status="scheduled",
                       effective_at=T0 + timedelta(days=30))
    )  # fmt: skip
    book.licence_changes.request(licence_change("chg-3", subscription_id="sub-2"))
    assert [c.id for c in book.licence_changes.open_for_subscription("sub-1")] == ["chg-1", "chg-2"]

    book.licence_changes.update(
        "chg-1", lambda c: c.model_copy(update={"status": "applied", "effective_at": T0})
    )
    assert [c.id for c in book.licence_changes.open_for_subscription("sub-1")] == ["chg-2"]
    assert len(list(book.tables.table(OPEN_TABLE).scan("", {}, "rows"))) == 2


def test_each_status_of_a_change_is_on_the_timeline(book: Book):
    book.licence_changes.request(licence_change())
    book.licence_changes.update(
        "chg-1",
        lambda c: c.model_copy(update={"status": "rejected", "reason": "over the approval limit"}),
    )
    summaries = [e.summary for e in book.timeline.page("c-1").items]
    assert summaries == [
        "increase chg-1 on subscription sub-1 (5 -> 8 seats): received",
        "increase chg-1 on subscription sub-1 (5 -> 8 seats): rejected (over the approval limit)",
    ]
    assert book.licence_changes.get("chg-1").record.status == "rejected"
    assert book.licence_changes.find("chg-9") is None
