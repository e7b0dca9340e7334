"""The book sync on devhost (the real Durable engine: replay, sub-orchestrations,
continue-as-new, activities in parallel) through its HTTP routes, against a seeded book in
real sandboxes and Azurite: the book ends up matching Partner Center field for field, a
second run writes nothing, a change made by hand in Partner Center is corrected by the next
run, and the Stripe side's deliberate ambiguities are reported, not linked.

The book holds BOOK customers (sandbox/common/book.py); `make bench` syncs 1,000
(bench/book_sync.py). BOOK is smaller here to keep the suite quick on two cores."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from devhost.sandbox_wiring import StripeCredentials, partner_center_settings, stripe_settings
from sandbox.common.book import book_customers
from shared.book import Book
from shared.config import Settings
from shared.models.book_sync import BookSyncReport
from tests.book_sync_checks import mirror_differences, snapshot
from tests.devhost.host_process import ROOT, HostProcess, running_host
from tests.sandbox.partner_center.conftest import make_pc
from tests.sandbox.partner_center.harness import Harness
from tests.sandbox.stripe.harness import API_KEY, WEBHOOK_SECRET, running_sandbox

pytestmark = pytest.mark.slow

BOOK = 200
SEED = 7  # the Partner Center harness's --seed
KEY = "function-key-for-book-sync-tests"
__all__ = ["make_pc"]


@pytest.fixture
def seeded(make_pc: Any, tmp_path: Path, clock: Any) -> Iterator[tuple[Harness, Any]]:
    pc = make_pc(seed_data=f"book:{BOOK}")
    (tmp_path / "stripe").mkdir()
    with running_sandbox(tmp_path / "stripe", clock, seed_data=f"book:{BOOK}", seed=SEED) as sb:
        yield pc, sb


@pytest.fixture
def host(
    seeded: tuple[Harness, Any], azurite: Azurite, tmp_path: Path
) -> Iterator[tuple[HostProcess, Book, Harness]]:
    pc, stripe = seeded
    prefix = f"t{uuid.uuid4().hex[:16]}"
    values = {
        **partner_center_settings(pc.sandbox.config.data_dir),
        **stripe_settings(stripe.base_url, StripeCredentials(API_KEY, WEBHOOK_SECRET)),
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_TABLE_PREFIX": prefix,
        "CSPFLOW_BOOK_SYNC_SCHEDULE": "off",
    }
    env = {**values, "TASKHUB_NAME": "booksync", "DEVHOST_FUNCTION_KEY": KEY}
    book = Book(Settings.model_validate({"AzureWebJobsStorage": azurite.connection_string,
                                         "table_prefix": prefix}))  # fmt: skip
    with running_host(ROOT, "--enable-auth", "--state-dir", str(tmp_path / "host"), env=env) as h:
        yield h, book, pc


def post(host: HostProcess) -> requests.Response:
    return requests.post(
        f"{host.url}/api/ops/book-syncs", headers={"x-functions-key": KEY}, timeout=30
    )


def follow(host: HostProcess, location: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(location, headers={"x-functions-key": KEY}, timeout=30)
        if answer.status_code != 202:
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body
        assert answer.headers["Retry-After"] == "10"
        assert time.monotonic() < deadline, f"still running: {answer.text}\n{host.log()[-3000:]}"
        time.sleep(0.2)


def sync(host: HostProcess) -> tuple[BookSyncReport, float]:
    began = time.monotonic()
    first, second = post(host), post(host)
    assert first.status_code == second.status_code == 202, first.text
    assert first.headers["Location"] == second.headers["Location"]  # one run
    assert (first.json()["started"], second.json()["started"]) == (True, False)
    view = follow(host, first.headers["Location"])
    assert view["state"] == "completed", view
    return BookSyncReport.model_validate(view["report"]), time.monotonic() - began


def test_a_seeded_book_is_adopted_exactly_then_kept_in_step_with_partner_center(host):
    devhost, book, pc = host
    customers = book_customers(BOOK, SEED)
    tenants = [c.tenant_id for c in customers]

    report, seconds = sync(devhost)

    assert report.complete and report.error is None, report
    assert report.adopted.count == BOOK and report.failed_count == 0
    assert report.pages == -(-BOOK // 100)
    assert report.subscriptions == sum(len(c.subscriptions) for c in customers)
    assert mirror_differences(book, pc.client, tenants) == []
    links = {kind: sum(1 for c in customers if c.link == kind) for kind in
             ("metadata", "email", "two_stripe", "shared_domain", "none")}  # fmt: skip
    assert report.linked.count == links["metadata"] + links["email"]
    assert report.unlinked.count == links["none"]
    assert report.ambiguous_count == links["two_stripe"] + links["shared_domain"] // 2
    for match in report.ambiguous:  # every ambiguous customer stays unlinked
        for customer_id in match.customer_ids:
            assert book.customers.get(customer_id).record.stripe_customer_id is None
    print(f"\nfirst sync of {BOOK} customers on devhost: {seconds:.1f} s")

    before = snapshot(book)
    again, seconds = sync(devhost)
    assert snapshot(book) == before, "a second sync with nothing changed wrote something"
    assert (again.unchanged.count, again.adopted.count, again.updated.count) == (BOOK, 0, 0)
    assert again.run_id != report.run_id
    print(f"second sync: {seconds:.1f} s")

    # A subscription changed by hand in Partner Center, through its API.
    spec = next(s for c in customers for s in c.subscriptions if s.term == "P1Y")
    owner = next(c for c in customers if spec in c.subscriptions)
    pc.client.set_quantity(owner.tenant_id, spec.id, spec.quantity + 2,
                           request_id=str(uuid.uuid4()))  # fmt: skip
    third, _ = sync(devhost)
    assert third.updated.ids == (owner.tenant_id,)
    assert third.subscriptions_corrected.ids == (spec.id,)
    assert mirror_differences(book, pc.client, [owner.tenant_id]) == []
    [entry] = [e for e in book.timeline.page(owner.tenant_id, limit=100).items if e.changes]
    assert (entry.changes[0].field, entry.changes[0].before, entry.changes[0].after) == (
        "quantity", spec.quantity, spec.quantity + 2)  # fmt: skip
