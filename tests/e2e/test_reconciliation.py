"""The reconciliation through the whole local stack over HTTP, in virtual time: a customer's
month in Partner Center and in the book, Microsoft's invoice published on the 8th, then
`POST /api/ops/reconciliations`: the seats cspflow billed are matched, the seats Partner
Center billed the partner for behind cspflow's back are leakage at the customer's price;
`GET /api/reconciliation/{period}` filters the lines, its CSV loads into a spreadsheet, a
customer's dispute is linked to its line."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import requests

from shared.book import Book
from shared.models import Contact, Customer, Invoice, InvoiceLine, Money, SubscriptionRecord
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.policy.billing import period_of
from shared.policy.terms import add_months
from tests.e2e.harness import LocalStack, Namespace

pytestmark = pytest.mark.e2e

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"


def usd(text: str) -> Money:
    return Money.from_decimal(text, "USD")


def buy(stack: LocalStack, ns: Namespace) -> tuple[str, str]:
    """A customer in Partner Center with 3 seats of Business Basic (1 year, monthly)."""
    pc = stack.partner_center
    made = pc.create_customer(
        NewCustomer(
            domain_prefix=ns.domain_prefix("recon"),
            company_name=ns.company("Recon"),
            email=ns.email("billing"),
            address=Address(first_name="Ada", last_name="Lee", address_line1="1 Main St",
                            city="Seattle", state="WA", postal_code="98101", country="US"),
        ),
        request_id=ns.request_id("create"),
    )  # fmt: skip
    tenant = made.customer.id
    pc.attest_mca(
        tenant,
        AgreementContact(first_name="Ada", last_name="Lee", email=ns.email("billing")),
        stack.now(),
        request_id=ns.request_id("mca"),
    )
    line = CartLine(catalog_item_id=BASIC, quantity=3, term_duration="P1Y", billing_cycle="monthly")
    cart = pc.create_cart(tenant, [line], request_id=ns.request_id("cart"))
    result = pc.checkout(tenant, cart.id, request_id=ns.request_id("checkout"))
    sid = result.orders[0].line_items[0].subscription_id
    assert sid is not None
    return tenant, sid


def test_a_month_is_reconciled_leakage_found_exported_and_disputed(
    stack: LocalStack, ns: Namespace
):
    tenant, sid = buy(stack, ns)
    sub = stack.partner_center.get_subscription(tenant, sid)
    bought = sub.effective_start_date
    period = period_of(bought.date())
    customer_id = ns.id("recon")
    book = Book(stack.settings)
    book.customers.add(
        Customer(
            id=customer_id,
            partner_id="p",
            company_name="Recon",
            tenant_id=UUID(tenant),
            domain=f"{ns.prefix}recon.example",
            contacts=(Contact(name="Ada", email=ns.email("billing")),),
            billing_currency="USD",
            country="US",
        )
    )
    book.subscriptions.add(
        SubscriptionRecord(customer_id=customer_id, subscription=sub, unit_price=usd("7.00"))
    )
    invoice_id = f"{customer_id}-{period}"
    start = datetime.combine(bought.date(), datetime.min.time(), UTC)
    book.invoices.issue(
        Invoice(
            id=invoice_id,
            customer_id=customer_id,
            currency="USD",
            lines=(
                InvoiceLine(
                    description="Business Basic, 3 seats",
                    kind="new",
                    subscription_id=sid,
                    quantity=3,
                    amount=usd("21.00"),
                    period_start=start,
                    period_end=datetime.combine(
                        add_months(start.date(), 1), datetime.min.time(), UTC
                    ),
                ),
            ),
            status="paid",
            issued_at=bought,
            due_at=bought,
        )
    )
    # Two seats billed to the partner behind cspflow's back, the next day.
    stack.advance(timedelta(days=1))
    silent = requests.post(
        stack.sandbox_url("partner-center") + "/_sandbox/charges",
        json={"customerId": tenant, "subscriptionId": sid, "quantity": 2},
        verify=str(stack.settings.partner_center_ca_bundle),
        timeout=10,
    )
    assert silent.status_code == 204, silent.text
    # Microsoft publishes the month's invoice on the 8th of the next.
    published = datetime.combine(
        add_months(start.date().replace(day=1), 1).replace(day=8), datetime.min.time(), UTC
    )
    stack.advance(published - stack.now() + timedelta(hours=2))

    started = stack.api("POST", "/api/ops/reconciliations", json={"period": period})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    while (answer := stack.api("GET", started.headers["Location"])).status_code == 404:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    ours = [line for line in view["lines"]["items"] if line["customer_id"] == customer_id]
    assert sorted((line["charge_type"], line["classification"]) for line in ours) == [
        ("addQuantity", "missed_billing"),
        ("new", "matched"),
    ]
    leak = next(line for line in ours if line["classification"] == "missed_billing")
    assert leak["leakage"]["currency"] == "USD" and leak["leakage"]["amount_minor"] > 0
    assert view["summary"]["counts"]["missed_billing"] >= 1
    assert 0 <= float(view["summary"]["billing_accuracy"]) < 1

    filtered = stack.api(
        "GET",
        f"/api/reconciliation/{period}",
        params={"classification": "missed_billing", "customer_id": customer_id},
    ).json()
    assert [line["charge_type"] for line in filtered["lines"]["items"]] == ["addQuantity"]

    exported = stack.api(
        "GET", f"/api/reconciliation/{period}/lines.csv", params={"customer_id": customer_id}
    )
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["classification"] for r in rows) == ["matched", "missed_billing"]

    dispute = {
        "dispute_id": ns.id("d1"),
        "customer_id": customer_id,
        "subscription_id": sid,
        "reason": "We were told the price was 6.50",
    }
    opened = stack.api("POST", f"/api/invoices/{invoice_id}/disputes", json=dispute)
    assert opened.status_code == 201, opened.text
    assert (
        stack.api("POST", f"/api/invoices/{invoice_id}/disputes", json=dispute).status_code == 201
    )
    other = stack.api(
        "POST", f"/api/invoices/{invoice_id}/disputes", json={**dispute, "reason": "x"}
    )
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "dispute_id"
    missing = stack.api("POST", "/api/invoices/nope/disputes", json=dispute)
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "invoice_id"

    # Reconciled again, the line is linked to the dispute.
    again = stack.api("POST", "/api/ops/reconciliations", json={"period": period})
    assert again.status_code == 202
    deadline = time.monotonic() + 120
    while True:
        lines = stack.api(
            "GET", f"/api/reconciliation/{period}", params={"customer_id": customer_id}
        ).json()["lines"]["items"]
        matched = next(line for line in lines if line["classification"] == "matched")
        if matched["disputes"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert matched["disputes"] == [ns.id("d1")]
