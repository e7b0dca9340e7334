"""The billing run on devhost (the real Durable engine: replay, a sub-orchestration per
customer, continue-as-new, activities in parallel) through its HTTP routes, against a real
Stripe sandbox and Azurite: the host is SIGKILLed while the run is issuing invoices and
started again on the same state; the run resumes and every customer is billed once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.billing import PERIOD, seed_book
from devhost.azurite import Azurite
from devhost.sandbox_wiring import StripeCredentials, mail_settings, stripe_settings
from shared.book import Book
from shared.config import Settings
from shared.models.billing_run import BillingRunReport
from tests.devhost.host_process import ROOT, HostProcess, start_host
from tests.sandbox.stripe.harness import API_KEY, WEBHOOK_SECRET, client, running_sandbox

pytestmark = pytest.mark.slow

CUSTOMERS = 24
KEY = "function-key-for-billing-tests"


@pytest.fixture
def stripe_sandbox(tmp_path: Path, clock: Any) -> Iterator[Any]:
    (tmp_path / "stripe").mkdir()
    with running_sandbox(tmp_path / "stripe", clock) as sb:
        yield sb


def test_a_host_killed_mid_run_resumes_and_bills_each_customer_once(
    stripe_sandbox: Any, mail: Any, azurite: Azurite, tmp_path: Path
):
    prefix = f"t{uuid.uuid4().hex[:16]}"
    values = {
        **stripe_settings(stripe_sandbox.base_url, StripeCredentials(API_KEY, WEBHOOK_SECRET)),
        **mail_settings(mail.options.data_dir),
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_TABLE_PREFIX": prefix,
        "CSPFLOW_BOOK_SYNC_SCHEDULE": "off",
        "CSPFLOW_BILLING_SCHEDULE": "off",
        "CSPFLOW_RECONCILIATION_SCHEDULE": "off",
        "CSPFLOW_BILLING_IN_FLIGHT": "4",
    }
    settings = Settings.model_validate(
        {"AzureWebJobsStorage": azurite.connection_string, "table_prefix": prefix}
    )
    sdk = client(stripe_sandbox.base_url)
    ids = seed_book(settings, sdk, CUSTOMERS)
    # Stripe answering in 80 ms: the run takes long enough to be killed in the middle.
    requests.post(f"{stripe_sandbox.base_url}/_sandbox/latency", data={"ms": "80"}, timeout=5)
    env = {**values, "TASKHUB_NAME": "billing", "DEVHOST_FUNCTION_KEY": KEY}
    state = str(tmp_path / "host")
    host = start_host(ROOT, "--enable-auth", "--state-dir", state, env=env)
    try:
        started = requests.post(
            f"{host.url}/api/ops/billing-runs",
            json={"period": PERIOD, "billing_day": 1},
            headers={"x-functions-key": KEY},
            timeout=30,
        )
        assert started.status_code == 202, started.text
        location_path = started.headers["Location"].split("/api/", 1)[1]
        deadline = time.monotonic() + 120
        while len(invoiced(sdk)) < CUSTOMERS // 4:  # a quarter issued: kill it mid-run
            assert time.monotonic() < deadline, host.log()[-3000:]
            time.sleep(0.05)
        host.kill()
        before = len(invoiced(sdk))
        assert 0 < before < CUSTOMERS
        host = start_host(ROOT, "--enable-auth", "--state-dir", state, env=env)
        report = follow(host, f"{host.url}/api/{location_path}")
    finally:
        host.stop()
    counts = Counter(invoiced(sdk))
    assert set(counts) == set(ids.values()) and set(counts.values()) == {1}, counts
    assert report.complete and report.totals.customers == CUSTOMERS
    assert report.totals.issued + report.totals.already_issued == CUSTOMERS
    assert report.totals.failed_count == report.totals.skipped_count == 0
    rows = Book(settings).billed_customers.of_run("2027-03-d01", limit=100).items
    assert len(rows) == CUSTOMERS and all(row.notified for row in rows)  # each notice once


def invoiced(sdk: Any) -> list[str]:
    """The Stripe customer of every invoice of the period (each customer's should be one)."""
    found: list[str] = []
    for inv in sdk.v1.invoices.list({"limit": 100}).auto_paging_iter():
        if inv.metadata.to_dict().get("cspflow_period") == PERIOD:
            found.append(inv.customer)
    return found


def follow(host: HostProcess, location: str, timeout_s: float = 240) -> BillingRunReport:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(location, headers={"x-functions-key": KEY}, timeout=30)
        if answer.status_code == 200:
            view: dict[str, Any] = answer.json()
            assert view["state"] == "completed", view
            return BillingRunReport.model_validate(view["report"])
        assert answer.status_code == 202, answer.text
        assert time.monotonic() < deadline, f"still running: {answer.text}\n{host.log()[-3000:]}"
        time.sleep(0.2)
