"""Partner Center wins: a read of Partner Center applied to the book.

Partner Center is the system of record for what Microsoft sold. When a read of it (a sync, the
read that follows a webhook, an activity's read after its own write) disagrees with the book:

- the book is corrected to Partner Center's values;
- the difference goes on the customer's timeline (source `partner_center`), one
  `FieldChange` per field that differed: `before` is the book's value, `after` Partner
  Center's.

When nothing differs nothing is written at all, so a second sync of the same state writes
nothing. Only the mirror is compared and corrected: what cspflow alone knows (a subscription's
sell price, Stripe item and seat batches; a customer's contacts, currency, payment terms, SLA
tier) is never touched by a sync.

What Partner Center no longer shows is flagged, never deleted: a customer missing from the
partner's customer list, a subscription missing from its customer's list
(`gone_from_partner_center_at`, when a sync first missed it). A read that shows it again
clears the flag, as a correction like any other. A customer Partner Center has and the book
does not is adopted (`adopt_partner_center_customer`): added, and noted on its timeline.

The timeline entry is written first, then the record (ETag-checked). The entry's id names the
book version it corrects (`partner_center:subscription:<id>:v<version>`), so a step retried
after a crash between the two writes records the difference once and then corrects the
book. If another writer changes the record in between, the difference is computed again
against the new version, recorded under that version, and applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.book import Book
from shared.book._repository import UPDATE_ATTEMPTS, backoff
from shared.book.errors import ConcurrencyConflict, RecordExists, RecordNotFound
from shared.book.timeline import MAX_ENTRIES_PER_BATCH
from shared.models.party import Customer
from shared.models.subscription import Subscription, SubscriptionRecord
from shared.models.timeline import FieldChange, TimelineEntry, TimelineKind
from shared.partner_center.models import CustomerTenant

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class SyncOutcome(Generic[R]):
    """The record as the book now holds it, and what Partner Center changed in it."""

    record: R
    changes: tuple[FieldChange, ...] = ()
    created: bool = False

    @property
    def changed(self) -> bool:
        return self.created or bool(self.changes)


def differences(
    book: dict[str, Any], partner_center: dict[str, Any], fields: Iterable[str]
) -> tuple[FieldChange, ...]:
    """The fields whose JSON values differ, in `fields` order."""
    return tuple(
        FieldChange(field=name, before=book.get(name), after=partner_center.get(name))
        for name in fields
        if book.get(name) != partner_center.get(name)
    )


def _mirror(subscription: Subscription) -> dict[str, Any]:
    return subscription.model_dump(mode="json", by_alias=False)


def apply_partner_center_subscription(
    book: Book, customer_id: str, read: Subscription
) -> SyncOutcome[SubscriptionRecord]:
    """Make the book's subscription what Partner Center says it is (adding it if the book
    does not have it yet), recording any difference on the customer's timeline."""
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        if attempt > 1:
            backoff(attempt - 1)
        stored = book.subscriptions.find(customer_id, read.id)
        if stored is None:
            record = SubscriptionRecord(customer_id=customer_id, subscription=read)
            _note(
                book,
                "subscription",
                customer_id,
                f"partner_center:subscription:{read.id}:v0",
                read.id,
                _found(read),
                (),
            )
            try:
                book.subscriptions.add(record)
            except RecordExists:  # added meanwhile by another writer: compare with that one
                continue
            return SyncOutcome(record, created=True)
        before, after = _mirror(stored.record.subscription), _mirror(read)
        changes = differences(before, after, Subscription.model_fields) + _back(stored.record)
        if not changes:
            return SyncOutcome(stored.record)
        _note(
            book,
            "subscription",
            customer_id,
            f"partner_center:subscription:{read.id}:v{stored.version}",
            read.id,
            f"Partner Center corrected subscription {read.id}: "
            + ", ".join(change.field for change in changes),
            changes,
        )
        corrected = stored.record.model_copy(
            update={"subscription": read, "gone_from_partner_center_at": None}
        )
        try:
            book.subscriptions.replace(stored, corrected)
        except ConcurrencyConflict:
            continue
        return SyncOutcome(corrected, changes)
    raise ConcurrencyConflict(
        f"subscription {read.id} of customer {customer_id}: {UPDATE_ATTEMPTS} concurrent "
        "writes in a row while applying Partner Center's read"
    )


def adopt_partner_center_subscriptions(
    book: Book, customer_id: str, reads: list[Subscription], *, noted: bool = False
) -> list[SyncOutcome[SubscriptionRecord]]:
    """Add subscriptions Partner Center has and the book does not (a customer's, on its
    first sync) in a few writes: their timeline entries in one transaction, their term-end
    rows, their records in one transaction. When one of them is in the book after all (a
    step retried after a crash, a concurrent writer), each is applied on its own instead
    (`apply_partner_center_subscription`), so nothing is added twice or missed."""
    if not reads:
        return []
    if not noted:  # (`noted`: the caller wrote their entries already)
        _append_entries(book, [_found_entry(book, customer_id, read) for read in reads])
    records = [SubscriptionRecord(customer_id=customer_id, subscription=read) for read in reads]
    if book.subscriptions.add_all(records):
        return [SyncOutcome(record, created=True) for record in records]
    return [apply_partner_center_subscription(book, customer_id, read) for read in reads]


def _found(read: Subscription) -> str:
    return (
        f"subscription {read.id} ({read.offer_id}, {read.quantity} seats, {read.status}) "
        "found in Partner Center: added to the book"
    )


def _append_entries(book: Book, entries: list[TimelineEntry]) -> None:
    """One customer's entries, a transaction per MAX_ENTRIES_PER_BATCH."""
    for start in range(0, len(entries), MAX_ENTRIES_PER_BATCH):
        book.timeline.append_all(entries[start : start + MAX_ENTRIES_PER_BATCH])


def _found_entry(book: Book, customer_id: str, read: Subscription) -> TimelineEntry:
    return _entry(
        book,
        "subscription",
        customer_id,
        f"partner_center:subscription:{read.id}:v0",
        read.id,
        _found(read),
        (),
    )


CUSTOMER_MIRROR = ("tenant_id", "company_name", "domain")


def apply_partner_center_customer(
    book: Book, read: CustomerTenant, customer_id: str | None = None
) -> SyncOutcome[Customer]:
    """Make the book's customer agree with Partner Center on what Partner Center knows of
    it: its tenant (Partner Center's customer id), company name and domain. The customer is
    `customer_id`, else the one whose tenant is `read.id`. A value Partner Center leaves
    empty is not a difference (its answer did not carry it). A customer flagged gone from
    Partner Center is back: the flag is cleared."""
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        if attempt > 1:
            backoff(attempt - 1)
        stored = (
            book.customers.find(customer_id)
            if customer_id is not None
            else book.customers.by_tenant(read.id)
        )
        if stored is None:
            raise RecordNotFound(
                f"customer {customer_id or 'with tenant ' + read.id} is not in the book"
            )
        customer = stored.record
        before = customer.model_dump(mode="json", include=set(CUSTOMER_MIRROR))
        given = {"tenant_id": read.id, "company_name": read.company_name, "domain": read.domain}
        after = Customer.model_validate(
            {**customer.model_dump(), **{name: value for name, value in given.items() if value}}
        )
        changes = differences(
            before, after.model_dump(mode="json", include=set(CUSTOMER_MIRROR)), CUSTOMER_MIRROR
        ) + _back(customer)
        after = after.model_copy(update={"gone_from_partner_center_at": None})
        if not changes:
            return SyncOutcome(customer)
        _note(
            book,
            "customer",
            customer.id,
            f"partner_center:customer:{customer.id}:v{stored.version}",
            customer.id,
            f"Partner Center corrected customer {customer.id}: "
            + ", ".join(change.field for change in changes),
            changes,
        )
        try:
            book.customers.replace(stored, after)
        except ConcurrencyConflict:
            continue
        return SyncOutcome(after, changes)
    raise ConcurrencyConflict(
        f"customer {customer_id or read.id}: {UPDATE_ATTEMPTS} concurrent writes in a row "
        "while applying Partner Center's read"
    )


def adopt_partner_center_customer(
    book: Book, customer: Customer, subscriptions: Sequence[Subscription] = ()
) -> tuple[SyncOutcome[Customer], list[SyncOutcome[SubscriptionRecord]]]:
    """Add a customer Partner Center has and the book does not yet (a partner's existing
    customer, on the first sync), with its subscriptions, noting each on its timeline: the
    entries first (one transaction), then the customer, then its subscriptions
    (`adopt_partner_center_subscriptions`). When the id is taken by the time it is added,
    the book's customer is returned as it is (`created` False) and no subscription is
    added: the caller applies Partner Center's reads to what the book has."""
    entries = [
        _entry(
            book,
            "customer",
            customer.id,
            f"partner_center:customer:{customer.id}:adopted",
            customer.id,
            f"customer {customer.company_name} ({customer.domain}) found in Partner Center: "
            "added to the book",
            (),
        ),
        *(_found_entry(book, customer.id, read) for read in subscriptions),
    ]
    _append_entries(book, entries)
    try:
        book.customers.add(customer)
    except RecordExists:
        return SyncOutcome(book.customers.get(customer.id).record), []
    added = adopt_partner_center_subscriptions(book, customer.id, list(subscriptions), noted=True)
    return SyncOutcome(customer, created=True), added


def flag_customer_gone(book: Book, customer_id: str, at: datetime) -> SyncOutcome[Customer]:
    """Flag a customer that Partner Center's customer list no longer shows: kept, never
    deleted, noted on its timeline. A customer flagged already is left as it is."""
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        if attempt > 1:
            backoff(attempt - 1)
        stored = book.customers.get(customer_id)
        if stored.record.gone_from_partner_center_at is not None:
            return SyncOutcome(stored.record)
        flagged = stored.record.model_copy(update={"gone_from_partner_center_at": at})
        change = _gone(stored.record, flagged)
        _note(
            book,
            "customer",
            customer_id,
            f"partner_center:customer:{customer_id}:v{stored.version}",
            customer_id,
            f"customer {customer_id} is no longer in Partner Center's customer list: "
            "flagged, kept in the book",
            change,
        )
        try:
            book.customers.replace(stored, flagged)
        except ConcurrencyConflict:
            continue
        return SyncOutcome(flagged, change)
    raise ConcurrencyConflict(
        f"customer {customer_id}: {UPDATE_ATTEMPTS} concurrent writes in a row while flagging "
        "it gone from Partner Center"
    )


def flag_subscription_gone(
    book: Book, customer_id: str, subscription_id: str, at: datetime
) -> SyncOutcome[SubscriptionRecord]:
    """Flag a subscription its customer's list in Partner Center no longer shows: kept,
    never deleted, noted on the customer's timeline. One flagged already is left as it is."""
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        if attempt > 1:
            backoff(attempt - 1)
        stored = book.subscriptions.get(customer_id, subscription_id)
        if stored.record.gone_from_partner_center_at is not None:
            return SyncOutcome(stored.record)
        flagged = stored.record.model_copy(update={"gone_from_partner_center_at": at})
        change = _gone(stored.record, flagged)
        _note(
            book,
            "subscription",
            customer_id,
            f"partner_center:subscription:{subscription_id}:v{stored.version}",
            subscription_id,
            f"subscription {subscription_id} is no longer in Partner Center: flagged, kept in "
            "the book",
            change,
        )
        try:
            book.subscriptions.replace(stored, flagged)
        except ConcurrencyConflict:
            continue
        return SyncOutcome(flagged, change)
    raise ConcurrencyConflict(
        f"subscription {subscription_id} of customer {customer_id}: {UPDATE_ATTEMPTS} "
        "concurrent writes in a row while flagging it gone from Partner Center"
    )


GONE = "gone_from_partner_center_at"


def _gone(before: BaseModel, after: BaseModel) -> tuple[FieldChange, ...]:
    old, new = before.model_dump(mode="json")[GONE], after.model_dump(mode="json")[GONE]
    return (FieldChange(field=GONE, before=old, after=new),) if old != new else ()


def _back(record: Customer | SubscriptionRecord) -> tuple[FieldChange, ...]:
    """The change that clears a gone flag, when the record carries one."""
    return _gone(record, record.model_copy(update={GONE: None}))


def _note(
    book: Book,
    kind: TimelineKind,
    customer_id: str,
    entry_id: str,
    subject_id: str,
    summary: str,
    changes: tuple[FieldChange, ...],
) -> None:
    book.timeline.append(_entry(book, kind, customer_id, entry_id, subject_id, summary, changes))


def _entry(
    book: Book,
    kind: TimelineKind,
    customer_id: str,
    entry_id: str,
    subject_id: str,
    summary: str,
    changes: tuple[FieldChange, ...],
) -> TimelineEntry:
    return TimelineEntry(
        customer_id=customer_id,
        id=entry_id,
        at=book.clock.now(),
        kind=kind,
        subject_id=subject_id,
        source="partner_center",
        summary=summary[:500],
        changes=changes,
    )
