"""Licence changes: one per change id; a subscription's open changes from an index that
only holds open ones."""

from datetime import timedelta

from shared.book import Book
from shared.book.licence_changes import OPEN_TABLE
from tests.shared.book.records import T0, licence_change


def test_a_subscriptions_open_changes_are_listed_and_a_closed_one_leaves_the_list(book: Book):
    book.licence_changes.request(licence_change("chg-9", requested_at=T0 - timedelta(seconds=1)))
    book.licence_changes.request(licence_change("chg-1"))
    book.licence_changes.request(
        licence_change("chg-2", quantity=3, status="scheduled_for_next_term",
                       effective_at=T0 + timedelta(days=30))
    )  # fmt: skip
    book.licence_changes.request(licence_change("chg-3", subscription_id="sub-2"))
    # In arrival order, not id order: the subscription's queue.
    assert [c.id for c in book.licence_changes.open_for_subscription("sub-1")] == [
        "chg-9",
        "chg-1",
        "chg-2",
    ]
    assert (first := book.licence_changes.next_received("sub-1")) and first.id == "chg-9"
    book.licence_changes.update("chg-9", lambda c: c.model_copy(update={"status": "rejected"}))
    assert (second := book.licence_changes.next_received("sub-1")) and second.id == "chg-1"

    book.licence_changes.update(
        "chg-1", lambda c: c.model_copy(update={"status": "applied", "effective_at": T0})
    )
    assert [c.id for c in book.licence_changes.open_for_subscription("sub-1")] == ["chg-2"]
    assert book.licence_changes.next_received("sub-1") is None
    assert len(list(book.tables.table(OPEN_TABLE).scan("", {}, "rows"))) == 2


def test_changes_waiting_for_approval_are_listed_oldest_first_until_decided(book: Book):
    book.licence_changes.request(licence_change("chg-1", status="pending_approval"))
    book.licence_changes.request(
        licence_change("chg-0", status="pending_approval", requested_at=T0 - timedelta(hours=1))
    )
    book.licence_changes.request(licence_change("chg-2"))
    assert [c.id for c in book.licence_changes.pending_approvals(10).items] == ["chg-0", "chg-1"]
    book.licence_changes.update("chg-0", lambda c: c.model_copy(update={"status": "applying"}))
    assert [c.id for c in book.licence_changes.pending_approvals(10).items] == ["chg-1"]


def test_each_status_of_a_change_is_on_the_timeline(book: Book):
    book.licence_changes.request(licence_change())
    book.licence_changes.update(
        "chg-1",
        lambda c: c.model_copy(update={"status": "rejected", "reason": "over the approval limit"}),
    )
    summaries = [e.summary for e in book.timeline.page("c-1").items]
    assert summaries == [
        "quantity chg-1 on subscription sub-1 (to 8 seats): received",
        "quantity chg-1 on subscription sub-1 (to 8 seats): rejected (over the approval limit)",
    ]
    assert book.licence_changes.get("chg-1").record.status == "rejected"
    assert book.licence_changes.find("chg-9") is None
