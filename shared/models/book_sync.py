"""The book sync's inputs, outputs and report: what crosses its Durable boundaries
(workflows/book_sync.py, activities/book_sync.py) and what `GET /api/ops/book-syncs/{id}`
answers.

A report names customers by id in lists capped at `MAX_IDS` (the count is always exact), so
neither a Durable message nor the run's record in the book grows without bound with the size
of the partner's book.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from shared.models._base import DomainModel, UtcDateTime

MAX_IDS = 500
MAX_AMBIGUOUS = 200
MAX_FAILED = 200

CustomerOutcome = Literal["adopted", "updated", "unchanged"]
LinkKey = Literal["metadata", "email_domain"]
RunState = Literal["running", "completed", "failed", "terminated"]


class Ids(DomainModel):
    """How many, and which (the first `MAX_IDS`; `count` is exact)."""

    count: int = Field(default=0, ge=0)
    ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, ids: Iterable[str]) -> Ids:
        listed = tuple(ids)
        return cls(count=len(listed), ids=listed[:MAX_IDS])

    def __add__(self, other: Ids) -> Ids:
        return Ids(count=self.count + other.count, ids=(self.ids + other.ids)[:MAX_IDS])


class PartnerCenterCustomer(DomainModel):
    """A customer as Partner Center's customer list shows it: its id is its tenant id."""

    tenant_id: str = Field(min_length=1, max_length=64)
    company_name: str = Field(default="", max_length=200)
    domain: str = Field(default="", max_length=253)


class PageLink(DomainModel):
    """Where Partner Center's customer list goes on: the next page's URI and the headers
    (continuation token) to send with it."""

    uri: str = Field(min_length=1, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)


class SyncTuning(DomainModel):
    """How the sync pages and fans out. `page_size` customers are read per page (one
    orchestration episode), split into batches of `batch_size` (one sub-orchestration
    each, all of a page's batches at once), and at most `max_in_flight` customers are synced
    at a time across them: each batch syncs `per_batch` at a time, in waves.

    The defaults, 4 batches of 25 in waves of 5, ask for 20 customers at a time: twice the
    activities host.json lets a worker run at once (`maxConcurrentActivityFunctions`, 10), so
    the host's queue starts the next as soon as one ends while a wave waits for its slowest,
    with few orchestration episodes (one per wave)."""

    page_size: int = Field(default=100, ge=1, le=500)
    batch_size: int = Field(default=25, ge=1, le=100)
    max_in_flight: int = Field(default=20, ge=1, le=64)

    @property
    def batches_per_page(self) -> int:
        return -(-self.page_size // self.batch_size)

    @property
    def per_batch(self) -> int:
        """Customers in flight within one batch, so that all of a page's batches together
        stay within `max_in_flight`."""
        return max(1, self.max_in_flight // self.batches_per_page)


# activities' inputs and outputs --------------------------------------------------------------


class ReadCustomerPage(DomainModel):
    """Read one page of Partner Center's customers: the first, or the one `after` names."""

    page_size: int = Field(default=100, ge=1, le=500)
    after: PageLink | None = None


class CustomerPage(DomainModel):
    customers: tuple[PartnerCenterCustomer, ...]
    next: PageLink | None = None


class CustomerSynced(DomainModel):
    """What syncing one customer did to the book."""

    customer_id: str  # the book's id (adopted customers: their tenant id)
    tenant_id: str
    outcome: CustomerOutcome
    customer_changes: tuple[str, ...] = ()  # fields Partner Center corrected
    back_in_partner_center: bool = False  # it had been flagged gone
    subscriptions: int = Field(default=0, ge=0)  # in Partner Center
    subscriptions_added: tuple[str, ...] = ()
    subscriptions_corrected: tuple[str, ...] = ()
    subscriptions_gone: tuple[str, ...] = ()  # newly flagged: in the book, not in Partner Center


class SyncFailure(DomainModel):
    tenant_id: str
    reason: str = Field(max_length=500)


class SyncTotals(DomainModel):
    """The per-customer part of a report, summed over batches and pages."""

    customers: int = Field(default=0, ge=0)
    adopted: Ids = Ids()
    updated: Ids = Ids()
    unchanged: Ids = Ids()
    failed: tuple[SyncFailure, ...] = ()
    failed_count: int = Field(default=0, ge=0)
    subscriptions: int = Field(default=0, ge=0)
    subscriptions_added: Ids = Ids()
    subscriptions_corrected: Ids = Ids()
    subscriptions_gone: Ids = Ids()

    @classmethod
    def of(cls, synced: Iterable[CustomerSynced], failed: Iterable[SyncFailure]) -> SyncTotals:
        done, lost = list(synced), list(failed)
        return cls(
            customers=len(done) + len(lost),
            adopted=Ids.of(s.customer_id for s in done if s.outcome == "adopted"),
            updated=Ids.of(s.customer_id for s in done if s.outcome == "updated"),
            unchanged=Ids.of(s.customer_id for s in done if s.outcome == "unchanged"),
            failed=tuple(lost[:MAX_FAILED]),
            failed_count=len(lost),
            subscriptions=sum(s.subscriptions for s in done),
            subscriptions_added=Ids.of(i for s in done for i in s.subscriptions_added),
            subscriptions_corrected=Ids.of(i for s in done for i in s.subscriptions_corrected),
            subscriptions_gone=Ids.of(i for s in done for i in s.subscriptions_gone),
        )

    def __add__(self, other: SyncTotals) -> SyncTotals:
        return SyncTotals(
            customers=self.customers + other.customers,
            adopted=self.adopted + other.adopted,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            failed=(self.failed + other.failed)[:MAX_FAILED],
            failed_count=self.failed_count + other.failed_count,
            subscriptions=self.subscriptions + other.subscriptions,
            subscriptions_added=self.subscriptions_added + other.subscriptions_added,
            subscriptions_corrected=self.subscriptions_corrected + other.subscriptions_corrected,
            subscriptions_gone=self.subscriptions_gone + other.subscriptions_gone,
        )


class GoneSwept(DomainModel):
    """Customers of the book that Partner Center's customer list no longer shows."""

    partner_center_customers: int = Field(ge=0)
    gone: Ids = Ids()  # every customer flagged gone now
    newly_gone: Ids = Ids()  # flagged by this sweep


class AmbiguousMatch(DomainModel):
    """A match the sync would not guess: one customer claimed by several Stripe customers,
    or one Stripe customer matching several customers of the book."""

    key: LinkKey
    value: str  # the customer id the metadata names, or the email domain
    customer_ids: tuple[str, ...]
    stripe_customer_ids: tuple[str, ...]


class StripeLinked(DomainModel):
    """What linking the book's customers to Stripe's did."""

    stripe_customers: int = Field(ge=0)
    linked: Ids = Ids()  # linked by this run
    by_metadata: int = Field(default=0, ge=0)
    by_email_domain: int = Field(default=0, ge=0)
    already_linked: int = Field(default=0, ge=0)
    unlinked: Ids = Ids()  # no Stripe customer matches
    ambiguous: tuple[AmbiguousMatch, ...] = ()
    ambiguous_count: int = Field(default=0, ge=0)


# the orchestrations' inputs, status and report ------------------------------------------------


class BookSyncRun(DomainModel):
    """The sync's input, episode after episode: the run, the page to sync now (read ahead by
    the previous episode; None on the first) and where the list goes on after it, the totals
    so far."""

    run_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,60}$")
    started_at: UtcDateTime | None = None
    tuning: SyncTuning = SyncTuning()
    page: int = Field(default=0, ge=0)
    customers: tuple[PartnerCenterCustomer, ...] | None = None
    after: PageLink | None = None
    totals: SyncTotals = SyncTotals()


class BookSyncBatch(DomainModel):
    """A batch of one page: synced by one sub-orchestration, `in_flight` at a time."""

    run_id: str
    customers: tuple[PartnerCenterCustomer, ...]
    in_flight: int = Field(ge=1, le=64)


class BookSyncProgress(DomainModel):
    """The custom status while the sync runs."""

    run_id: str
    state: Literal["syncing", "sweeping", "linking", "done"]
    pages: int = Field(ge=0)
    customers: int = Field(ge=0)
    failed: int = Field(default=0, ge=0)


class BookSyncReport(DomainModel):
    """What a sync did. `complete` is False when Partner Center's customer list could not be
    read to its end: then no customer was flagged gone and none was linked (both need every
    customer), and `error` says why."""

    run_id: str
    started_at: UtcDateTime
    finished_at: UtcDateTime
    complete: bool
    error: str | None = None
    pages: int = Field(ge=0)
    partner_center_customers: int = Field(ge=0)
    adopted: Ids
    updated: Ids
    unchanged: Ids
    failed: tuple[SyncFailure, ...] = ()
    failed_count: int = Field(default=0, ge=0)
    gone: Ids = Ids()
    newly_gone: Ids = Ids()
    linked: Ids = Ids()
    already_linked: int = Field(default=0, ge=0)
    unlinked: Ids = Ids()
    ambiguous: tuple[AmbiguousMatch, ...] = ()
    ambiguous_count: int = Field(default=0, ge=0)
    subscriptions: int = Field(default=0, ge=0)
    subscriptions_added: Ids = Ids()
    subscriptions_corrected: Ids = Ids()
    subscriptions_gone: Ids = Ids()


class BookSyncStarted(DomainModel):
    """`POST /api/ops/book-syncs`' answer: the run now going on (maybe started by someone
    else a moment ago); poll `Location`."""

    run_id: str
    state: RunState
    started: bool = Field(description="this request started the run (false: it joined one)")


class BookSyncView(DomainModel):
    """`GET /api/ops/book-syncs/{run_id}`: a run's state, its progress while it runs, its
    report once done."""

    run_id: str
    state: RunState
    progress: BookSyncProgress | None = None
    report: BookSyncReport | None = None
    error: str | None = None
