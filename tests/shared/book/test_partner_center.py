"""Partner Center wins: a read that differs corrects the book and goes on the customer's
timeline with the fields that differed; a read that agrees writes nothing."""

from datetime import timedelta

import pytest

from shared.book import Book, RecordNotFound
from shared.book.partner_center import (
    adopt_partner_center_customer,
    adopt_partner_center_subscriptions,
    apply_partner_center_customer,
    apply_partner_center_subscription,
    flag_customer_gone,
    flag_subscription_gone,
)
from shared.models import FieldChange
from shared.partner_center.models import CustomerTenant
from tests.shared.book.records import (
    T0,
    TENANT,
    customer,
    eur,
    present,
    subscription,
    subscription_record,
)


def tenant(**overrides) -> CustomerTenant:
    data = {"id": TENANT, "domain": "c-1.onmicrosoft.com", "companyName": "Contoso Ltd"}
    return CustomerTenant.model_validate(data | overrides)


def writes(book: Book) -> list[tuple[str, str]]:
    """Every entity of the book's tables with its ETag: a second sync must not change one."""
    found = []
    for name in ("Subscriptions", "SubscriptionsByTermEnd", "Timeline", "Customers"):
        for row in book.tables.table(name).scan("", {}, name):
            found.append(
                (f"{name}/{row['PartitionKey']}/{row['RowKey']}", str(row.metadata["etag"]))
            )
    return sorted(found)


def test_a_subscription_partner_center_changed_is_corrected_and_the_change_recorded(book: Book):
    book.subscriptions.add(subscription_record(quantity=5, unit_price=eur(690)))
    new_end = T0 + timedelta(days=365)
    read = subscription(quantity=7, term_end=new_end, autoRenewEnabled=False)

    outcome = apply_partner_center_subscription(book, "c-1", read)

    assert [c.field for c in outcome.changes] == [
        "quantity",
        "auto_renew_enabled",
        "effective_start_date",
        "commitment_end_date",
        "commitment_end_date_time",
    ]
    assert outcome.changes[0] == FieldChange(field="quantity", before=5, after=7)
    stored = book.subscriptions.get("c-1", "sub-1").record
    assert stored.subscription == read
    assert stored.unit_price == eur(690)  # cspflow's own fields are never touched
    assert [
        r.id
        for r in book.subscriptions.due(
            new_end - timedelta(days=1), new_end + timedelta(days=1)
        ).items
    ] == ["sub-1"]
    [entry] = book.timeline.page("c-1").items
    assert (entry.kind, entry.source, entry.id) == (
        "subscription",
        "partner_center",
        "partner_center:subscription:sub-1:v1",
    )
    assert entry.changes == outcome.changes
    assert entry.summary.startswith("Partner Center corrected subscription sub-1: quantity, ")


def test_a_second_sync_of_the_same_read_writes_nothing(book: Book):
    book.subscriptions.add(subscription_record(quantity=5))
    read = subscription(quantity=7)
    assert apply_partner_center_subscription(book, "c-1", read).changed
    before = writes(book)

    again = apply_partner_center_subscription(book, "c-1", read)

    assert not again.changed and again.changes == ()
    assert writes(book) == before


def test_a_subscription_the_book_does_not_have_yet_is_added_and_noted(book: Book):
    outcome = apply_partner_center_subscription(book, "c-1", subscription("sub-new"))
    assert outcome.created and outcome.changed
    assert book.subscriptions.get("c-1", "sub-new").record.subscription == subscription("sub-new")
    [entry] = book.timeline.page("c-1").items
    assert entry.summary == (
        "subscription sub-new (CFQ7TTC0LH18:0001:CFQ7TTC0K971, 5 seats, active) "
        "found in Partner Center: added to the book"
    )


def test_a_sync_retried_after_recording_the_difference_records_it_once(book: Book):
    # The first try wrote the timeline entry, then its record write lost to nobody (crash):
    # the retry finds the same difference against the same version, so the same entry id.
    book.subscriptions.add(subscription_record(quantity=5))
    apply_partner_center_subscription(book, "c-1", subscription(quantity=7))
    book.subscriptions.update(
        "c-1", "sub-1", lambda r: r.model_copy(update={"subscription": subscription(quantity=5)})
    )  # the book drifts again (version 3): a new difference, a new entry
    apply_partner_center_subscription(book, "c-1", subscription(quantity=7))
    ids = [e.id for e in book.timeline.page("c-1").items]
    assert sorted(ids) == [
        "partner_center:subscription:sub-1:v1",
        "partner_center:subscription:sub-1:v3",
    ]


def test_a_concurrent_writer_makes_the_sync_compare_again(book: Book, monkeypatch):
    book.subscriptions.add(subscription_record(quantity=5))
    original = book.subscriptions.replace
    interfered: list[bool] = []

    def replace_after_another_writer(stored, new):
        if not interfered:
            interfered.append(True)
            book.subscriptions.update(
                "c-1", "sub-1", lambda r: r.model_copy(update={"unit_price": eur(1)})
            )
        return original(stored, new)

    monkeypatch.setattr(book.subscriptions, "replace", replace_after_another_writer)
    outcome = apply_partner_center_subscription(book, "c-1", subscription(quantity=7))

    stored = book.subscriptions.get("c-1", "sub-1").record
    assert (stored.subscription.quantity, stored.unit_price) == (7, eur(1))
    assert outcome.changes == (FieldChange(field="quantity", before=5, after=7),)


def test_a_customer_partner_center_renamed_is_corrected_and_noted(book: Book):
    book.customers.ensure(customer(tenant_id=TENANT, stripe_customer_id="cus_1"))
    outcome = apply_partner_center_customer(book, tenant(companyName="Contoso Group"))
    assert outcome.changes == (
        FieldChange(field="company_name", before="Contoso Ltd", after="Contoso Group"),
    )
    stored = book.customers.get("c-1").record
    assert (stored.company_name, stored.stripe_customer_id) == ("Contoso Group", "cus_1")
    [entry] = book.timeline.page("c-1").items
    assert (entry.kind, entry.source) == ("customer", "partner_center")

    before = writes(book)
    assert not apply_partner_center_customer(book, tenant(companyName="Contoso Group")).changed
    assert writes(book) == before


def test_a_customer_gets_its_tenant_from_partner_center_and_empty_answers_change_nothing(
    book: Book,
):
    book.customers.ensure(customer())
    outcome = apply_partner_center_customer(book, tenant(companyName="", domain=""), "c-1")
    assert [c.field for c in outcome.changes] == ["tenant_id"]
    assert present(book.customers.by_tenant(TENANT)).record.company_name == "Contoso Ltd"


def test_a_customer_the_book_does_not_know_is_not_found(book: Book):
    with pytest.raises(RecordNotFound, match=f"customer with tenant {TENANT}"):
        apply_partner_center_customer(book, tenant())


def test_a_customer_changed_meanwhile_is_compared_again_and_keeps_the_other_change(
    book: Book, monkeypatch
):
    book.customers.ensure(customer(tenant_id=TENANT))
    original = book.customers.replace
    interfered: list[bool] = []

    def replace_after_another_writer(stored, new):
        if not interfered:
            interfered.append(True)
            book.customers.update("c-1", lambda c: c.model_copy(update={"sla_tier": "premium"}))
        return original(stored, new)

    monkeypatch.setattr(book.customers, "replace", replace_after_another_writer)
    apply_partner_center_customer(book, tenant(companyName="Contoso Group"))

    stored = book.customers.get("c-1").record
    assert (stored.company_name, stored.sla_tier) == ("Contoso Group", "premium")
    assert sorted(e.id for e in book.timeline.page("c-1").items) == [
        "partner_center:customer:c-1:v1",
        "partner_center:customer:c-1:v2",
    ]


# adopted, flagged gone, back ------------------------------------------------------------------


def test_a_customer_only_partner_center_has_is_adopted_once_and_noted(book: Book):
    new = customer("c-9", tenant_id=TENANT)
    reads = [subscription("sub-1"), subscription("sub-2", term_end=T0 + timedelta(days=90))]
    outcome, added = adopt_partner_center_customer(book, new, reads)
    assert outcome.created and outcome.record == new
    assert [(o.created, o.record.subscription) for o in added] == [(True, r) for r in reads]
    assert book.customers.by_tenant(TENANT) == book.customers.get("c-9")
    assert [r.subscription for r in book.subscriptions.of_customer("c-9").items] == reads
    due = book.subscriptions.due(T0, T0 + timedelta(days=100)).items
    assert [r.id for r in due] == ["sub-1", "sub-2"]  # term-end rows written with them
    entries = book.timeline.page("c-9").items
    assert sorted(e.id for e in entries) == [
        "partner_center:customer:c-9:adopted",
        "partner_center:subscription:sub-1:v0",
        "partner_center:subscription:sub-2:v0",
    ]
    assert all(e.source == "partner_center" for e in entries)
    before = writes(book)
    again, none = adopt_partner_center_customer(
        book, new.model_copy(update={"company_name": "Other"}), reads
    )
    assert not again.created and again.record == new and none == []  # the book's, as it is
    assert writes(book) == before


def test_subscriptions_added_at_once_fall_back_to_one_by_one_when_one_is_there(book: Book):
    book.subscriptions.add(subscription_record("sub-1", quantity=5))
    reads = [subscription("sub-1", quantity=6), subscription("sub-2")]
    outcomes = adopt_partner_center_subscriptions(book, "c-1", reads)
    assert [(o.created, [c.field for c in o.changes]) for o in outcomes] == [
        (False, ["quantity"]),
        (True, []),
    ]
    stored = {r.id: r.subscription for r in book.subscriptions.of_customer("c-1").items}
    assert stored == {"sub-1": reads[0], "sub-2": reads[1]}
    ids = [e.id for e in book.timeline.page("c-1").items]
    assert sorted(ids) == [
        "partner_center:subscription:sub-1:v0",
        "partner_center:subscription:sub-1:v1",
        "partner_center:subscription:sub-2:v0",
    ]


def test_timeline_entries_appended_at_once_are_each_recorded_once(book: Book):
    adopt_partner_center_subscriptions(book, "c-1", [subscription("sub-1")])
    book.subscriptions.table.delete(
        "c-1", "sub-1", etag=present(book.subscriptions.find("c-1", "sub-1")).etag, what="test"
    )
    # a retry after losing the record: the entry is there, the batch falls back, no duplicate
    adopt_partner_center_subscriptions(book, "c-1", [subscription("sub-1"), subscription("sub-3")])
    ids = sorted(e.id for e in book.timeline.page("c-1").items)
    assert ids == ["partner_center:subscription:sub-1:v0", "partner_center:subscription:sub-3:v0"]
    assert {r.id for r in book.subscriptions.of_customer("c-1").items} == {"sub-1", "sub-3"}


def test_a_customer_gone_from_partner_center_is_flagged_kept_and_flagged_once(book: Book):
    book.customers.add(customer())
    gone_at = T0 + timedelta(days=1)
    outcome = flag_customer_gone(book, "c-1", gone_at)
    assert outcome.changes == (
        FieldChange(field="gone_from_partner_center_at", before=None, after="2026-03-03T09:00:00Z"),
    )
    assert book.customers.get("c-1").record.gone_from_partner_center_at == gone_at
    [entry] = book.timeline.page("c-1").items
    assert "no longer in Partner Center" in entry.summary and entry.changes == outcome.changes
    before = writes(book)
    assert not flag_customer_gone(book, "c-1", gone_at + timedelta(days=1)).changed
    assert writes(book) == before
    with pytest.raises(RecordNotFound):
        flag_customer_gone(book, "c-404", gone_at)


def test_a_customer_partner_center_shows_again_is_no_longer_flagged(book: Book):
    book.customers.add(customer(tenant_id=TENANT))
    flag_customer_gone(book, "c-1", T0)
    outcome = apply_partner_center_customer(book, tenant(companyName=customer().company_name))
    assert [c.field for c in outcome.changes] == ["gone_from_partner_center_at"]
    assert outcome.changes[0].after is None
    assert book.customers.get("c-1").record.gone_from_partner_center_at is None
    assert len(book.timeline.page("c-1").items) == 2


def test_a_subscription_gone_from_partner_center_is_flagged_and_cleared_when_back(book: Book):
    book.subscriptions.add(subscription_record())
    outcome = flag_subscription_gone(book, "c-1", "sub-1", T0)
    assert [c.field for c in outcome.changes] == ["gone_from_partner_center_at"]
    before = writes(book)
    assert not flag_subscription_gone(book, "c-1", "sub-1", T0).changed
    assert writes(book) == before
    back = apply_partner_center_subscription(book, "c-1", subscription())
    assert [(c.field, c.after) for c in back.changes] == [("gone_from_partner_center_at", None)]
    assert book.subscriptions.get("c-1", "sub-1").record.gone_from_partner_center_at is None
    assert len(book.timeline.page("c-1").items) == 2
