"""The book: the state cspflow keeps in Azure Tables, and every query on it.

Partner Center is the system of record for what Microsoft sold, Stripe for what customers
paid. The book holds cspflow's mirror of customers and subscriptions plus what only cspflow
knows: the catalogue and price lists, orders, licence changes, renewals, dunning cases,
invoices, SLA clocks, notices sent, KPI events, processed webhook events, events kept for
workflows not deployed yet, ops alerts, the polls' watermarks, each customer's timeline and
the reports of the book syncs. Activities read and write it; orchestrators never do
(docs/book.md).

    book = Book(ctx.settings)                       # in an activity
    stored = book.subscriptions.get(customer_id, subscription_id)
    book.subscriptions.update(customer_id, subscription_id, lambda r: ...)
    page = book.subscriptions.due_within(now, days=60, limit=100, next=cursor)

One module per aggregate; each module's docstring names its tables, their keys and the
queries those keys serve. Tables carry `settings.table_prefix` and are created on first write.
"""

from __future__ import annotations

from azure.data.tables import TableServiceClient

from shared.book._repository import Page, Recorded, Stored, Tables, every
from shared.book.alerts import OpsAlerts
from shared.book.billing_runs import BilledCustomers, BillingRuns
from shared.book.book_syncs import BookSyncs
from shared.book.catalogue import Offers, PriceLists
from shared.book.charges import Charges
from shared.book.customers import Customers
from shared.book.dunning import DunningCases
from shared.book.errors import (
    BookRefused,
    BookUnavailable,
    ConcurrencyConflict,
    InvalidKey,
    InvalidPaging,
    RecordExists,
    RecordNotFound,
    RecordTooLarge,
)
from shared.book.invoices import Invoices
from shared.book.kpi_events import KpiEvents
from shared.book.licence_changes import LicenceChanges
from shared.book.notices import Notices
from shared.book.orders import Orders
from shared.book.processed_events import ProcessedEvents
from shared.book.reconciliations import Disputes, ReconciledLines, ReconciliationSummaries
from shared.book.renewals import Renewals
from shared.book.sla_clocks import SlaClocks
from shared.book.subscriptions import Subscriptions
from shared.book.timeline import Timeline
from shared.book.watermarks import PollWatermarks
from shared.book.workflow_inbox import WorkflowInbox
from shared.clock import Clock, app_clock
from shared.config import Settings
from shared.storage import table_service

__all__ = [
    "Book",
    "BookRefused",
    "BookUnavailable",
    "ConcurrencyConflict",
    "InvalidKey",
    "InvalidPaging",
    "Page",
    "RecordExists",
    "RecordNotFound",
    "RecordTooLarge",
    "Recorded",
    "Stored",
    "every",
]


class Book:
    """Every repository of the book, on one table service client.

    `clock` stamps the timeline entries the book writes itself (the time a fact was recorded);
    records carry their own business times."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        service: TableServiceClient | None = None,
    ) -> None:
        self.tables = Tables(service or table_service(settings), settings.table_prefix)
        self.clock: Clock = clock or app_clock(settings)
        self.timeline = Timeline(self.tables)
        parts = (self.tables, self.clock, self.timeline)
        self.customers = Customers(*parts)
        self.subscriptions = Subscriptions(*parts)
        self.offers = Offers(*parts)
        self.price_lists = PriceLists(*parts)
        self.orders = Orders(*parts)
        self.licence_changes = LicenceChanges(*parts)
        self.renewals = Renewals(*parts)
        self.dunning = DunningCases(*parts)
        self.invoices = Invoices(*parts)
        self.sla_clocks = SlaClocks(*parts)
        self.notices = Notices(*parts)
        self.kpi_events = KpiEvents(*parts)
        self.processed_events = ProcessedEvents(*parts)
        self.workflow_inbox = WorkflowInbox(*parts)
        self.alerts = OpsAlerts(*parts)
        self.watermarks = PollWatermarks(*parts)
        self.book_syncs = BookSyncs(*parts)
        self.billing_runs = BillingRuns(*parts)
        self.billed_customers = BilledCustomers(*parts)
        self.reconciliations = ReconciliationSummaries(*parts)
        self.reconciled_lines = ReconciledLines(*parts)
        self.disputes = Disputes(*parts)
        self.charges = Charges(*parts)
