"""The billing run through the whole local stack over HTTP, in virtual time: the hand-worked
month (tests/billing_month.py, every figure worked out there) in the stack's book, billed by
`POST /api/ops/billing-runs`, gives exactly the expected invoices in the Stripe sandbox, to
the minor unit; running the period again bills nothing; a storm of 429s from Stripe during a
run leaves every invoice issued once.

The stack is shared: other tests' customers billed on the 1st are in the run too (with
nothing to bill, or skipped); this test looks at its own."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from shared.book import Book
from shared.models.billing_run import BillingRunReport
from tests import billing_month as month
from tests.e2e.harness import LocalStack, Namespace

pytestmark = pytest.mark.e2e

ROUTE = "/api/ops/billing-runs"


def run_billing(stack: LocalStack, period: str = month.PERIOD) -> BillingRunReport:
    started = stack.api("POST", ROUTE, json={"period": period, "billing_day": 1})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 300
    while (answer := stack.api("GET", started.headers["Location"])).status_code == 202:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    assert view["state"] == "completed", view
    return BillingRunReport.model_validate(view["report"])


def stripe_invoices(stack: LocalStack, stripe_id: str) -> list[Any]:
    return list(stack.stripe.v1.invoices.list({"customer": stripe_id, "limit": 100}).data)


def assert_the_months_invoices(stack: LocalStack, stripe_ids: dict[str, str]) -> None:
    for customer_id, expected in month.EXPECTED.items():
        (inv,) = stripe_invoices(stack, stripe_ids[customer_id])
        assert inv.metadata["cspflow_invoice_id"] == f"{customer_id}-{month.PERIOD}"
        assert inv.currency == expected["currency"].lower()
        lines = [
            (
                line.metadata["cspflow_subscription_id"],
                line.amount,
                sum(t.amount for t in line.taxes),
            )
            for line in inv.lines.data
        ]
        assert lines == [(sub, amount, tax) for sub, _, amount, tax in expected["lines"]]
        assert (inv.subtotal, inv.total) == (expected["subtotal"], expected["total"])
        assert inv.collection_method == expected["collection"]
        if expected["collection"] == "charge_automatically":
            assert (inv.status, inv.amount_paid) == ("paid", expected["total"])
        else:
            assert (inv.status, inv.amount_paid) == ("open", 0)


@pytest.fixture(scope="module")
def stripe_ids(stack: LocalStack) -> dict[str, str]:
    """The month's customers in the stack's Stripe sandbox and book, once for this module."""
    ids = month.stripe_customers(stack.stripe)
    month.load_book(stack.settings, ids)
    return ids


def test_the_hand_worked_month_bills_exactly_the_expected_invoices_and_a_rerun_bills_nothing(
    stack: LocalStack, ns: Namespace, stripe_ids: dict[str, str]
):

    report = run_billing(stack)
    assert report.complete and report.error is None
    assert_the_months_invoices(stack, stripe_ids)
    book = Book(stack.settings)
    ours = {
        b.customer_id: b
        for b in book.billed_customers.of_run("2027-03-d01", limit=1000).items
        if b.customer_id in month.EXPECTED
    }
    assert {cid: b.outcome for cid, b in ours.items()} == dict.fromkeys(month.EXPECTED, "issued")
    # each got the invoice notice, with the link to Stripe's hosted invoice page
    assert {cid: b.notified for cid, b in ours.items()} == dict.fromkeys(month.EXPECTED, True)
    assert {cid: b.margin.amount_minor for cid, b in ours.items() if b.margin} == {
        cid: expected["margin"] for cid, expected in month.EXPECTED.items()
    }
    for currency, total in (("EUR", 237838 + 12500), ("JPY", 75186)):
        assert any(t.currency == currency and t.amount_minor >= total for t in report.totals.totals)

    again = run_billing(stack)
    assert again.totals.issued == 0 and again.totals.already_issued >= 3
    assert_the_months_invoices(stack, stripe_ids)  # still one invoice each
    rows = book.billed_customers.of_run("2027-03-d01", limit=1000).items
    assert {b.customer_id: b.outcome for b in rows if b.customer_id in month.EXPECTED} == (
        dict.fromkeys(month.EXPECTED, "already_issued")
    )


def test_a_storm_of_429s_from_stripe_during_the_run_issues_every_invoice_once(
    stack: LocalStack, ns: Namespace, stripe_ids: dict[str, str]
):
    """April for the same customers, with Stripe answering the first 6 requests 429: the
    steps that met them are retried after their interval (virtual time), with the same keys.
    In April Contoso's and Northwind's monthly-billed terms bill; Fabrikam has nothing to
    bill (this book was not synced after Partner Center renewed its monthly term on 5 March,
    and the run bills the current and the next term only)."""
    control = stack.sandbox_url("stripe") + "/_sandbox/rate_limit"
    assert requests.post(control, data={"storm": "6"}, timeout=5).json()["storm"] == 6
    report = run_billing(stack, "2027-04")
    assert report.complete
    assert requests.post(control, data={}, timeout=5).json()["storm"] == 0  # all met
    april = {
        customer_id: [
            (inv.total, inv.status)
            for inv in stripe_invoices(stack, stripe_ids[customer_id])
            if inv.metadata.to_dict().get("cspflow_period") == "2027-04"
        ]
        for customer_id in month.EXPECTED
    }
    # Contoso: sub-a1, 12 x 5.40 = 64.80 + 21 % (13.61) = 78.41; Northwind: 25 x 5.00 = 125.00
    assert april == {"contoso": [(7841, "paid")], "fabrikam": [], "northwind": [(12500, "paid")]}
    billed = Book(stack.settings).billed_customers.of_run("2027-04-d01", limit=1000).items
    ours = {b.customer_id: b.outcome for b in billed if b.customer_id in month.EXPECTED}
    assert ours == {"contoso": "issued", "fabrikam": "nothing_to_bill", "northwind": "issued"}
