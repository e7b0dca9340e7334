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
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
import requests

from shared.book import Book
from shared.models import Contact, Customer, Invoice, InvoiceLine, Money
from shared.partner_center.models import Address, AgreementContact, CartLine, NewCustomer
from shared.policy.billing import period_of
from shared.policy.terms import add_months
from tests.e2e.harness import LocalStack, Namespace, subscription_in_book
from tests.e2e.test_onboarding import new_order, place
from tests.e2e.test_read_api import STANDARD_LIST, import_catalog, ok

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
    subscription_in_book(book, customer_id, sub, usd("7.00"))
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


# -- a month of charges made through cspflow's own API -------------------------------------
E3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0K39X"
E5 = "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
MONTH_LINES: list[dict[str, Any]] = [
    {"catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "monthly", "quantity": 5},
    {"catalog_item_id": E3, "term_duration": "P1Y", "billing_cycle": "monthly", "quantity": 2},
    {"catalog_item_id": PREMIUM, "term_duration": "P1M", "billing_cycle": "monthly",
     "quantity": 1},
]  # fmt: skip
FINAL = ("applied", "scheduled_for_next_term", "rejected", "failed")


@pytest.fixture
def priced(stack: LocalStack) -> dict[tuple[str, str, str], int]:
    """The US catalogue imported and the standard list in force: each offer's sell price."""
    import_catalog(stack, ["US"])
    ok(stack.api("PUT", "/api/price-lists/standard", json=STANDARD_LIST))
    prices: dict[tuple[str, str, str], int] = {}
    params = {"country": "US", "currency": "USD", "limit": "500"}
    for offer in ok(stack.api("GET", "/api/catalog", params=params))["items"]:
        key = (offer["catalog_item_id"], offer["term_duration"], offer["billing_cycle"])
        prices[key] = offer["sell_price"]["amount_minor"]
    return prices


def change(stack: LocalStack, customer_id: str, sub: str, change_id: str, **body: Any) -> Any:
    """A licence change asked over HTTP, and its record once final."""
    asked = stack.api(
        "POST",
        f"/api/customers/{customer_id}/subscriptions/{sub}/changes",
        json={"change_id": change_id, "requested_by": "ada@example.com", **body},
    )
    assert asked.status_code == 202, asked.text
    deadline = time.monotonic() + 120
    while (view := stack.api("GET", f"/api/changes/{change_id}").json())["status"] not in FINAL:
        if view["status"] == "pending_approval":
            decided = stack.api(
                "POST", f"/api/approvals/{change_id}", json={"decision": "approve", "by": "steven"}
            )
            assert decided.status_code in (202, 409), decided.text
        assert time.monotonic() < deadline, view
        time.sleep(0.3)
    assert view["status"] == "applied", view
    return view


def reconciled(stack: LocalStack, period: str, customer_id: str) -> list[dict[str, Any]]:
    started = stack.api("POST", "/api/ops/reconciliations", json={"period": period})
    assert started.status_code == 202, started.text
    instance = stack.wait_for_instance(f"reconciliation-{period}", "Completed", timeout=180)
    assert instance is not None
    answer = stack.api("GET", f"/api/reconciliation/{period}", params={"customer_id": customer_id})
    assert answer.status_code == 200, answer.text
    lines: list[dict[str, Any]] = answer.json()["lines"]["items"]
    return lines


def test_a_month_of_orders_and_changes_made_through_cspflow_is_all_matched_and_a_silent_seat_leaks(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    # A fresh calendar month, so the whole story is in one of Microsoft's invoices.
    now = stack.now()
    first = datetime.combine(add_months(now.date().replace(day=1), 1), datetime.min.time(), UTC)
    stack.advance(first + timedelta(days=1, hours=9) - now)
    order = {**new_order(ns, "month"), "lines": MONTH_LINES}
    customer_id = ns.domain_prefix("month")
    # 1. onboarding: the first invoice charges each line's first period ("new")
    done = place(stack, order)
    assert done["status"] == "provisioned", done
    period = period_of(stack.now().date())
    tenant = ok(stack.api("GET", f"/api/orders/{order['order_id']}"))["tenant_id"]
    subs = {s.offer_id: s for s in stack.partner_center.list_subscriptions(tenant)}
    basic, e3, premium = (subs[BASIC].id, subs[E3].id, subs[PREMIUM].id)
    # E3 and E5 one family in the book's catalogue, E5 above E3 (docs/rules.md#upgrade)
    book = Book(stack.settings)
    for item, rank in ((E3, 1), (E5, 2)):
        offer = book.offers.find("US", "USD", item, "P1Y", "monthly")
        assert offer is not None
        book.offers.save(offer.model_copy(update={"family": "Office 365 E", "rank": rank}))

    stack.advance(timedelta(days=1))
    with stack.clock_held():  # the person's requests, one after the other, on one day
        # 2. two seats added ("addQuantity"), 3. one removed inside its window
        # ("removeQuantity"), 4. a cancellation inside the window ("cancelImmediate"),
        # 5. an upgrade from E3 to E5 ("removeQuantity" of E3, "convert" to E5)
        added = change(stack, customer_id, basic, ns.id("add"), kind="quantity", quantity=7)
        removed = change(stack, customer_id, basic, ns.id("remove"), kind="quantity", quantity=6)
        cancelled = change(stack, customer_id, premium, ns.id("cancel"), kind="cancel")
        upgraded = change(stack, customer_id, e3, ns.id("upgrade"), kind="upgrade",
                          target_catalog_item_id=E5)  # fmt: skip
    assert added["charge"]["amount_minor"] > 0 > removed["charge"]["amount_minor"]
    assert cancelled["credit_note_id"] and upgraded["charge"]["amount_minor"] > 0
    charges = book.charges.of_customer(
        customer_id, starting_from=first.date(), starting_before=add_months(first.date(), 1)
    ).items
    assert sorted(c.kind for c in charges) == [
        "add_quantity", "cancel", "new", "new", "new", "remove_quantity", "upgrade"
    ]  # fmt: skip

    # Then the billing run of the month: the first periods were the order's, nothing twice.
    billed = stack.api("POST", "/api/ops/billing-runs", json={"period": period, "billing_day": 1})
    assert billed.status_code == 202, billed.text
    deadline = time.monotonic() + 300
    while (run := stack.api("GET", billed.headers["Location"])).status_code == 202:
        assert time.monotonic() < deadline, run.text
        time.sleep(0.2)
    assert run.status_code == 200 and run.json()["state"] == "completed", run.text
    assert book.invoices.find(customer_id, f"{customer_id}-{period}") is None

    # A seat billed to the partner behind cspflow's back, the next day.
    # The clock runs on while the run bills (longer on a loaded machine): the seat's day is
    # read with the clock held, not assumed.
    stack.advance(timedelta(days=1))
    with stack.clock_held():
        charged_on = stack.now().date()
        silent = requests.post(
            stack.sandbox_url("partner-center") + "/_sandbox/charges",
            json={"customerId": tenant, "subscriptionId": basic, "quantity": 1},
            verify=str(stack.settings.partner_center_ca_bundle),
            timeout=10,
        )
    assert silent.status_code == 204, silent.text

    # Microsoft publishes the month's invoice on the 8th of the next.
    published = datetime.combine(add_months(first.date(), 1).replace(day=8),
                                 datetime.min.time(), UTC)  # fmt: skip
    stack.advance(published - stack.now() + timedelta(hours=2))
    lines = reconciled(stack, period, customer_id)
    got = sorted((line["charge_type"], line["subscription_id"], line["classification"])
                 for line in lines)  # fmt: skip
    assert got == sorted([
        ("new", basic, "matched"),
        ("new", e3, "matched"),
        ("new", premium, "matched"),
        ("addQuantity", basic, "matched"),
        ("removeQuantity", basic, "matched"),
        ("cancelImmediate", premium, "matched"),
        ("removeQuantity", e3, "matched"),
        ("convert", e3, "matched"),
        ("addQuantity", basic, "missed_billing"),
    ]), [(line["charge_type"], line["reason"]) for line in lines]  # fmt: skip
    # Every line cspflow billed is matched; the one it did not bill is the only leakage: one
    # seat at the customer's price, prorated as Microsoft prorated it.
    leak = next(line for line in lines if line["classification"] == "missed_billing")
    assert leak["microsoft_quantity"] == 1 and leak["service_start"] == charged_on.isoformat()
    # Microsoft: Business Basic at 6.00 USD a month, the cycle from the order day (the 2nd)
    # to the 1st of the next month; the seat charged from its day to the cycle's end, at
    # 6.00 x days left / cycle days (4 decimals). At the customer's sell price: sell x that
    # share, rounded once, half up.
    ordered = first.date() + timedelta(days=1)
    cycle_end = add_months(ordered, 1)
    cycle_days = (cycle_end - ordered).days
    left = (cycle_end - charged_on).days
    assert 0 < left < cycle_days, (charged_on, cycle_end)
    effective = (Decimal("6.00") * left / cycle_days).quantize(Decimal("0.0001"))
    exact = Fraction(priced[(BASIC, "P1Y", "monthly")]) * Fraction(effective) / 6
    expected_minor = int(exact + Fraction(1, 2))
    assert leak["leakage"] == {"amount_minor": expected_minor, "currency": "USD"}, leak
    assert [line["leakage"] for line in lines if line["classification"] == "matched"] == [None] * 8

    # The customer disputes the seats-added charge (its Stripe invoice): the next
    # reconciliation links the matched addQuantity line to it.
    dispute = {"dispute_id": ns.id("d-add"), "customer_id": customer_id,
               "subscription_id": basic, "reason": "We asked for one seat, not two"}  # fmt: skip
    opened = stack.api("POST", f"/api/invoices/{added['invoice_id']}/disputes", json=dispute)
    assert opened.status_code == 201, opened.text
    again = stack.api("POST", "/api/ops/reconciliations", json={"period": period})
    assert again.status_code == 202, again.text
    deadline = time.monotonic() + 120
    while True:
        lines = stack.api(
            "GET", f"/api/reconciliation/{period}", params={"customer_id": customer_id}
        ).json()["lines"]["items"]
        disputed = [line for line in lines if line["disputes"]]
        if disputed:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [(d["charge_type"], d["classification"], d["disputes"]) for d in disputed] == [
        ("addQuantity", "matched", [ns.id("d-add")])
    ]
