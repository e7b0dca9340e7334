"""The book sync's activities (workflows/book_sync.py): one side effect each.

- `read_customer_page`: one page of Partner Center's customer list (a read; nothing written).
- `sync_customer`: one customer of Partner Center applied to the book (Partner Center wins,
  shared/book/partner_center.py): adopted if the book does not have it, its mirror and
  subscriptions corrected, subscriptions Partner Center no longer lists flagged; for each
  subscription added or corrected, a `subscription-updated` on intake's queue. When nothing
  differs, nothing is written.
- `flag_gone_customers`: the book's customers Partner Center's list no longer shows, flagged
  (never deleted).
- `link_stripe_customers`: every customer of the book without a Stripe customer linked to the
  one shared/policy/stripe_link.py finds, if it finds exactly one.
- `record_book_sync`: the run's report saved in the book (`BookSyncs`).

Partner Center and the book are read through the process's clients, one per settings
(an MSAL token cache and a connection pool shared by every activity on a worker).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import azure.durable_functions as df
from pydantic import ValidationError

from activities.boundary import ActivityContext, WriteInput, activity, per_settings
from shared.book import Book, ConcurrencyConflict, Stored
from shared.book.partner_center import (
    adopt_partner_center_customer,
    adopt_partner_center_subscriptions,
    apply_partner_center_customer,
    apply_partner_center_subscription,
    flag_customer_gone,
    flag_subscription_gone,
)
from shared.clock import app_clock
from shared.config import Settings
from shared.errors import PermanentError
from shared.intake import Enqueuer, partner_center_message, subscription_notice
from shared.models import BusinessCalendar, Contact, Customer, SubscriptionRecord, TimelineEntry
from shared.models.book_sync import (
    MAX_AMBIGUOUS,
    BookSyncReport,
    CustomerOutcome,
    CustomerPage,
    CustomerSynced,
    GoneSwept,
    Ids,
    PageLink,
    PartnerCenterCustomer,
    ReadCustomerPage,
    StripeLinked,
)
from shared.partner_center import PartnerCenterClient
from shared.partner_center.models import BillingProfile, CustomerTenant, SeekLink
from shared.payments import StripePayments
from shared.policy.stripe_link import BookCustomer, Link, StripeCustomer, email_domain, plan_links

bp = df.Blueprint()

PAGE = 1000  # the book's largest page
LINK_THREADS = 8  # links written at once (the table client's pool holds 10)


class SyncCustomer(WriteInput):
    """Apply Partner Center's customer (and its subscriptions) to the book."""

    run_id: str
    customer: PartnerCenterCustomer


class SweepGone(WriteInput):
    """Flag the book's customers that Partner Center's customer list no longer shows."""

    run_id: str
    page_size: int = 500


class LinkStripe(WriteInput):
    """Link the book's customers to their Stripe customers."""

    run_id: str


class RecordBookSync(WriteInput):
    """Save the run's report in the book."""

    report: BookSyncReport


class CannotAdopt(PermanentError):
    """Partner Center's customer cannot be a customer of the book as it stands (a field the
    book refuses: an email it cannot mail, a tenant id that is no GUID)."""

    code = "cannot_adopt"


class EmptyPartnerCenter(PermanentError):
    """Partner Center lists no customer at all while the book has customers with tenants:
    flagging every one of them gone is refused (check whose credentials these are)."""

    code = "partner_center_empty"


def _book(settings: Settings) -> Book:
    return per_settings("book", settings, lambda s: Book(s, clock=app_clock(s)))


def _partner_center(settings: Settings) -> PartnerCenterClient:
    return per_settings("partner_center", settings, PartnerCenterClient.from_settings)


@activity(bp)
def read_customer_page(request: ReadCustomerPage, ctx: ActivityContext) -> CustomerPage:
    """One page of the partner's customers: the first, or the one `after` leads to."""
    after = None if request.after is None else SeekLink(**request.after.model_dump())
    page = _partner_center(ctx.settings).customer_page(request.page_size, after)
    return CustomerPage(
        customers=tuple(
            PartnerCenterCustomer(tenant_id=c.id, company_name=c.company_name, domain=c.domain)
            for c in page.customers
        ),
        next=None if page.next is None else PageLink(**page.next.model_dump()),
    )


def _enqueuer(settings: Settings) -> Enqueuer:
    return per_settings("enqueuer", settings, Enqueuer)


def _announce(settings: Settings, tenant_id: str, subscription_ids: list[str]) -> None:
    """A `subscription-updated` on the intake queue for each subscription, keyed under the
    sync's own time (a change found by reading has no event time of its own)."""
    now = app_clock(settings).now()
    for subscription_id in subscription_ids:
        notice = subscription_notice(tenant_id, subscription_id, now)
        _enqueuer(settings).enqueue(
            partner_center_message(notice, via="book_sync", received_at=now)
        )


@activity(bp)
def sync_customer(request: SyncCustomer, ctx: ActivityContext) -> CustomerSynced:
    """Make the book agree with Partner Center about one customer: Partner Center is read
    first (nothing is written when it cannot be), then only what differs is written."""
    book, partner_center = _book(ctx.settings), _partner_center(ctx.settings)
    read = request.customer
    subscriptions = partner_center.list_subscriptions(read.tenant_id)
    stored = _find_customer(book, read.tenant_id)
    outcome: CustomerOutcome = "unchanged"
    changed: tuple[str, ...] = ()
    back = False
    added: list[str] = []
    if stored is None:
        profile = partner_center.get_billing_profile(read.tenant_id)
        adopted, subs_added = adopt_partner_center_customer(
            book, adopted_customer(read, profile, ctx.settings), subscriptions
        )
        customer = adopted.record
        outcome = "adopted" if adopted.created else "unchanged"
        added = [o.record.id for o in subs_added if o.created]
    else:
        customer = stored.record
    if _mirror_differs(customer, read):
        applied = apply_partner_center_customer(
            book, CustomerTenant(id=read.tenant_id, domain=read.domain,
                                 company_name=read.company_name), customer.id
        )  # fmt: skip
        changed = tuple(change.field for change in applied.changes)
        back = "gone_from_partner_center_at" in changed
        customer = applied.record
    corrected: list[str] = []
    gone: list[str] = []
    if outcome != "adopted":  # an adopted customer's subscriptions came with it
        have = {r.id: r for r in _subscriptions_of(book, customer.id)}
        new = [s for s in subscriptions if s.id not in have]
        differing = [
            s
            for s in subscriptions
            if s.id in have and not _same(have[s.id], s.model_dump(mode="json"))
        ]
        # The workflows waiting on a subscription (an open renewal, licence change) hear of
        # what the sync found through intake's `subscription-updated`, enqueued before the
        # book is written: a retry after the write finds the book agreeing and would not
        # enqueue again. The consumer re-reads Partner Center and signals (docs/intake.md).
        _announce(ctx.settings, read.tenant_id, [s.id for s in new + differing])
        added += [
            o.record.id
            for o in adopt_partner_center_subscriptions(book, customer.id, new)
            if o.created
        ]
        for subscription in differing:
            # Reported as corrected even when the consumer of what was just enqueued wrote
            # the same correction first.
            apply_partner_center_subscription(book, customer.id, subscription)
            corrected.append(subscription.id)
        listed = {s.id for s in subscriptions}
        for record in have.values():
            if record.id not in listed and record.gone_from_partner_center_at is None:
                flag_subscription_gone(book, customer.id, record.id, book.clock.now())
                gone.append(record.id)
    if outcome != "adopted" and (changed or added or corrected or gone):
        outcome = "updated"
    return CustomerSynced(
        customer_id=customer.id,
        tenant_id=read.tenant_id,
        outcome=outcome,
        customer_changes=changed,
        back_in_partner_center=back,
        subscriptions=len(subscriptions),
        subscriptions_added=tuple(added),
        subscriptions_corrected=tuple(corrected),
        subscriptions_gone=tuple(gone),
    )


def adopted_customer(
    read: PartnerCenterCustomer, profile: BillingProfile, settings: Settings
) -> Customer:
    """The book's record of a customer it adopts from Partner Center: its id is its tenant
    id; its billing contact is the billing profile's; it bills in the partner's currency,
    buys in its billing address's country and keeps business hours there, if the holiday
    calendars know it."""
    name = f"{profile.first_name} {profile.last_name}".strip()
    try:
        calendar = BusinessCalendar(country=profile.country or "US")
    except ValidationError:
        calendar = BusinessCalendar()
    try:
        return Customer(
            id=read.tenant_id,
            partner_id=settings.partner_center_tenant_id or "partner",
            company_name=read.company_name or profile.company_name or read.domain,
            tenant_id=read.tenant_id,  # type: ignore[arg-type]  # validated into a UUID
            domain=read.domain,
            contacts=(
                Contact(
                    name=name or profile.company_name or read.domain,
                    email=profile.email,
                    role="billing",
                ),
            ),
            billing_currency=settings.partner_currency,
            calendar=calendar,
            # Its market: the billing address's country (Partner Center prices by it).
            country=_market(profile.country),
        )
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise CannotAdopt(
            f"Partner Center's customer {read.tenant_id} cannot be adopted: "
            f"{', '.join(fields)} refused"
        ) from None


def _market(country: str) -> str | None:
    """An ISO 3166-1 alpha-2 code, or None (unknown) for anything else: a customer is adopted
    without a market rather than refused for its billing address."""
    code = country.strip().upper()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def _find_customer(book: Book, tenant_id: str) -> Stored[Customer] | None:
    """The book's customer of a tenant: a customer adopted from Partner Center has the
    tenant id as its id (one read); one cspflow onboarded is found through the tenant
    index."""
    stored = book.customers.find(tenant_id)
    if stored is not None and str(stored.record.tenant_id or "").lower() == tenant_id.lower():
        return stored
    return book.customers.by_tenant(tenant_id)


def _mirror_differs(customer: Customer, read: PartnerCenterCustomer) -> bool:
    """Whether applying Partner Center's read would change the customer (the comparison
    apply_partner_center_customer makes, without its read of the record)."""
    given = {"company_name": read.company_name, "domain": read.domain.lower()}
    return (
        customer.gone_from_partner_center_at is not None
        or str(customer.tenant_id or "").lower() != read.tenant_id.lower()
        or any(value and getattr(customer, name) != value for name, value in given.items())
    )


def _same(record: SubscriptionRecord, read: dict[str, object]) -> bool:
    return (
        record.gone_from_partner_center_at is None
        and record.subscription.model_dump(mode="json") == read
    )


def _subscriptions_of(book: Book, customer_id: str) -> Iterator[SubscriptionRecord]:
    cursor: str | None = None
    while True:
        page = book.subscriptions.of_customer(customer_id, limit=PAGE, next=cursor)
        yield from page.items
        if page.next is None:
            return
        cursor = page.next


def _customers(book: Book) -> Iterator[Stored[Customer]]:
    cursor: str | None = None
    while True:
        page = book.customers.stored_page(limit=PAGE, next=cursor)
        yield from page.items
        if page.next is None:
            return
        cursor = page.next


@activity(bp)
def flag_gone_customers(request: SweepGone, ctx: ActivityContext) -> GoneSwept:
    """Read Partner Center's whole customer list, and flag each customer of the book whose
    tenant it no longer shows (a customer still being onboarded, with no tenant yet, is
    not gone)."""
    book = _book(ctx.settings)
    listed = {c.id.lower() for c in _partner_center(ctx.settings).list_customers(request.page_size)}
    gone, newly = [], []
    for stored in _customers(book):
        customer = stored.record
        if customer.tenant_id is None or str(customer.tenant_id).lower() in listed:
            continue
        if not listed:
            raise EmptyPartnerCenter(
                "Partner Center lists no customer while the book has customers with tenants: "
                "not flagging them all gone"
            )
        if customer.gone_from_partner_center_at is None:
            flag_customer_gone(book, customer.id, book.clock.now())
            newly.append(customer.id)
        gone.append(customer.id)
    return GoneSwept(
        partner_center_customers=len(listed), gone=Ids.of(gone), newly_gone=Ids.of(newly)
    )


@activity(bp)
def link_stripe_customers(request: LinkStripe, ctx: ActivityContext) -> StripeLinked:
    """Read every Stripe customer and every customer of the book, and link each customer of
    the book without a Stripe customer to the one the rule finds (docs/rules.md#stripe-link);
    the ambiguous are reported, never guessed."""
    book = _book(ctx.settings)
    stripe = [
        StripeCustomer(c.id, c.partner_customer_id, email_domain(c.email))
        for c in StripePayments.from_settings(ctx.settings).all_customers()
    ]
    book_customers = {stored.record.id: stored for stored in _customers(book)}
    customers = [
        BookCustomer(
            customer_id=c.id,
            tenant_id=None if c.tenant_id is None else str(c.tenant_id),
            email_domain=email_domain(c.billing_contact.email),
            stripe_customer_id=c.stripe_customer_id,
            gone=c.gone_from_partner_center_at is not None,
        )
        for c in (stored.record for stored in book_customers.values())
    ]
    plan = plan_links(customers, stripe)
    with ThreadPoolExecutor(LINK_THREADS) as pool:
        written = list(
            pool.map(lambda link: _link(book, book_customers[link.customer_id], link), plan.links)
        )
    made = [link for link, ok in zip(plan.links, written, strict=True) if ok]
    return StripeLinked(
        stripe_customers=len(stripe),
        linked=Ids.of(link.customer_id for link in made),
        by_metadata=sum(1 for link in made if link.by == "metadata"),
        by_email_domain=sum(1 for link in made if link.by == "email_domain"),
        already_linked=len(plan.already_linked),
        unlinked=Ids.of(plan.unlinked),
        ambiguous=plan.ambiguous[:MAX_AMBIGUOUS],
        ambiguous_count=len(plan.ambiguous),
    )


BY: dict[Literal["metadata", "email_domain"], str] = {
    "metadata": "its metadata cspflow_customer_id",
    "email_domain": "the billing email's domain",
}


def _link(book: Book, stored: Stored[Customer], link: Link) -> bool:
    """Write one link over the customer as the sweep read it (its ETag), or, if it changed
    since, over the customer as it is now, unless it has a link by then (kept: the book's
    link wins); then note it on the customer's timeline (after the record, so a retried step
    completes the timeline)."""

    def linked(c: Customer) -> Customer:
        if c.stripe_customer_id:
            return c
        return c.model_copy(update={"stripe_customer_id": link.stripe_customer_id})

    try:
        now = book.customers.replace(stored, linked(stored.record))
    except ConcurrencyConflict:
        now = book.customers.update(link.customer_id, linked)
    if now.record.stripe_customer_id != link.stripe_customer_id:
        return False
    book.timeline.append(
        TimelineEntry(
            customer_id=link.customer_id,
            id=f"stripe:customer:{link.customer_id}:linked:{link.stripe_customer_id}",
            at=book.clock.now(),
            kind="customer",
            subject_id=link.stripe_customer_id,
            source="stripe",
            summary=f"linked to Stripe customer {link.stripe_customer_id} by {BY[link.by]}",
        )
    )
    return True


@activity(bp)
def record_book_sync(request: RecordBookSync, ctx: ActivityContext) -> BookSyncReport:
    """Save the run's report (a retried save writes nothing)."""
    return _book(ctx.settings).book_syncs.save(request.report).record
