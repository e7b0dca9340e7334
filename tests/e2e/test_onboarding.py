"""Onboarding through the whole local stack in virtual time (devhost, Azurite, the Partner
Center, Stripe and mail sandboxes): a storefront order for a new customer with three products
becomes a Partner Center customer with an attested MCA, one paid Stripe invoice with the right
lines, subscriptions with their quantities, one welcome mail and a met SLA clock; the same
customer then adds a product coterminous with its annual subscription, charged to the minor
unit; a declined card fails an order with nothing bought. Every effect is read from the
sandboxes' own state. docs/onboarding.md, docs/rules.md#first-invoice,
docs/rules.md#coterminous-first-charge."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import pytest
import requests

from shared.book import Book
from shared.models import Money
from shared.policy.terms import add_months
from tests.e2e.harness import LocalStack, Namespace
from tests.e2e.test_read_api import STANDARD_LIST, import_catalog, ok
from tests.sandbox.mail.harness import Inbox

pytestmark = pytest.mark.e2e

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"
PREMIUM = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDLN"
LINES: list[dict[str, Any]] = [  # annual paid monthly, annual paid annually, monthly
    {"catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "monthly", "quantity": 5},
    {"catalog_item_id": STANDARD, "term_duration": "P1Y", "billing_cycle": "annual",
     "quantity": 2},
    {"catalog_item_id": PREMIUM, "term_duration": "P1M", "billing_cycle": "monthly",
     "quantity": 1},
]  # fmt: skip


@pytest.fixture(scope="module")
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


def new_order(ns: Namespace, label: str, card: str = "pm_card_visa") -> dict[str, Any]:
    return {
        "order_id": ns.id(label),
        "customer": {
            "company_name": ns.company("Fabrikam"),
            "domain": f"{ns.domain_prefix(label)}.onmicrosoft.com",
            "country": "US",
            "address": {"address_line1": "1 Main St", "city": "Redmond", "state": "WA",
                        "postal_code": "98052"},
            "contacts": [{"name": "Ada Lovelace", "email": ns.email("ada"), "role": "primary"}],
            "billing_currency": "USD",
            "payment_method": card,
        },
        "lines": LINES,
    }  # fmt: skip


def place(stack: LocalStack, body: dict[str, Any]) -> dict[str, Any]:
    answer = stack.api("POST", "/api/orders", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"].endswith(f"/api/orders/{body['order_id']}")
    finished = stack.wait_for_instance(f"order-{body['order_id']}", "Completed", timeout=240)
    output: dict[str, Any] = finished["output"]
    return output


def order_once_its_clock_closed(stack: LocalStack, order_id: str) -> dict[str, Any]:
    """The order once its SLA clock took the signal (it travels through the SLA queue)."""
    deadline = time.monotonic() + 60
    while True:
        view: dict[str, Any] = ok(stack.api("GET", f"/api/orders/{order_id}"))
        if (view["sla"] or {}).get("phase") not in (None, "running", "paused"):
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.3)


def stripe_customer_of(stack: LocalStack, customer_id: str) -> Any:
    found = [
        c
        for c in stack.stripe.v1.customers.list({"limit": 100}).data
        if c.to_dict().get("metadata", {}).get("cspflow_customer_id") == customer_id
    ]
    assert len(found) == 1, found
    return found[0]


def test_a_new_customer_with_three_products_is_onboarded_then_adds_a_coterminous_one(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    body = new_order(ns, "new")
    customer_id = ns.domain_prefix("new")
    done = place(stack, body)
    assert done["status"] == "provisioned", done

    # the same order again is the same order; another body under its id is a conflict
    again = stack.api("POST", "/api/orders", json=body)
    assert again.status_code == 202 and again.headers.get("Idempotent-Replayed") == "true"
    other = stack.api("POST", "/api/orders", json={**body, "lines": LINES[:1]})
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "order_id"

    view = order_once_its_clock_closed(stack, body["order_id"])
    assert view["status"] == "provisioned"
    assert view["sla"]["phase"] == "closed" and view["sla"]["state"] == "met"
    steps = [s["step"] for s in view["steps"]]
    assert steps[:4] == ["reserved", "domain_checked", "customer_created", "stripe_customer"]
    tenant = view["tenant_id"]

    # Partner Center: the customer, its attestation, one order, the subscriptions
    pc = stack.partner_center
    assert pc.get_customer(tenant).domain == f"{customer_id}.onmicrosoft.com"
    (agreement,) = pc.mca_attestations(tenant)
    assert agreement.primary_contact.email == ns.email("ada")
    assert [o.id for o in pc.list_orders(tenant)] == view["partner_center_order_ids"]
    subscriptions = pc.list_subscriptions(tenant)
    assert sorted((s.offer_id.split(":")[0], s.quantity) for s in subscriptions) == sorted(
        (line["catalog_item_id"].split(":")[0], line["quantity"]) for line in LINES
    )

    # Stripe: exactly one invoice, paid, one line per product at the first period's price
    cus = stripe_customer_of(stack, customer_id)
    invoices = stack.stripe.v1.invoices.list({"customer": cus.id}).data
    expected = sorted(
        priced[(line["catalog_item_id"], line["term_duration"], line["billing_cycle"])]
        * line["quantity"]
        for line in LINES
    )
    assert [(i.status, i.amount_paid) for i in invoices] == [("paid", sum(expected))]
    items = stack.stripe.v1.invoices.line_items.list(invoices[0].id).data
    assert sorted(i.amount for i in items) == expected
    assert view["first_invoice"]["stripe_invoice_id"] == invoices[0].id

    # the book: the customer knows its tenant and its Stripe customer
    held = stack.api("GET", f"/api/customers/{customer_id}").json()
    assert (held["tenant_id"], held["stripe_customer_id"]) == (tenant, cus.id)

    # mail: one welcome to the primary contact
    inbox = Inbox(stack.mail)
    mails = inbox.messages(to=ns.email("ada"))
    assert [m["subject"].startswith("Welcome") for m in mails] == [True]

    # the book: the subscriptions, time to value
    book = Book(stack.settings)
    held = book.subscriptions.of_customer(customer_id).items
    assert sorted(r.subscription.quantity for r in held) == [1, 2, 5]
    assert book.orders.get(body["order_id"]).record.status == "provisioned"

    # the customer adds Premium, coterminous with its annual Standard subscription
    annual = next(s for s in subscriptions if s.offer_id.startswith(STANDARD.split(":")[0]))
    stack.advance(timedelta(days=40))
    end = annual.commitment_end_date
    add = {
        "order_id": ns.id("add"),
        "customer_id": customer_id,
        "lines": [{"catalog_item_id": PREMIUM, "term_duration": "P1Y", "billing_cycle": "annual",
                   "quantity": 3, "custom_term_end_date": end.isoformat()}],
    }  # fmt: skip
    today = stack.now().date()
    added = place(stack, add)
    assert added["status"] == "provisioned", added
    # docs/rules.md#coterminous-first-charge: the period ending with the term's last day that
    # holds the order day, the days from the order day to its end, rounded once, half up
    term_end = end + timedelta(days=1)
    period_start = add_months(term_end, -12)
    days, period = (term_end - today).days, (term_end - period_start).days
    price = priced[(PREMIUM, "P1Y", "annual")] * 3
    exact = Fraction(price * days, period)
    cents = int(exact) + (1 if exact - int(exact) >= Fraction(1, 2) else 0)
    invoices = stack.stripe.v1.invoices.list({"customer": cus.id}).data
    assert sorted(i.amount_paid for i in invoices) == sorted([sum(expected), cents])
    assert Money(amount_minor=cents, currency="USD").amount_minor == cents
    premium = [s for s in pc.list_subscriptions(tenant) if s.term_duration == "P1Y"
               and s.offer_id.startswith(PREMIUM.split(":")[0])]  # fmt: skip
    assert [s.commitment_end_date for s in premium] == [end]
    assert isinstance(today, date)


def test_a_declined_card_fails_the_order_with_nothing_bought(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    # pm_card_chargeCustomerFail is saved, then every charge is declined
    # (https://docs.stripe.com/testing#declined-payments)
    body = new_order(ns, "declined", card="pm_card_chargeCustomerFail")
    done = place(stack, body)
    assert done["status"] == "failed" and "declined" in done["reason"]
    view = order_once_its_clock_closed(stack, body["order_id"])
    assert view["status"] == "failed" and view["sla"]["phase"] == "cancelled"
    tenant = view["tenant_id"]
    assert stack.partner_center.list_orders(tenant) == []
    assert stack.partner_center.list_subscriptions(tenant) == []
    cus = stripe_customer_of(stack, ns.domain_prefix("declined"))
    invoices = stack.stripe.v1.invoices.list({"customer": cus.id}).data
    assert [(i.status, i.amount_paid) for i in invoices] == [("void", 0)]
    assert len(Inbox(stack.mail).messages(to=ns.email("ada"))) == 1


def test_a_malformed_order_is_refused_naming_the_field_before_anything_starts(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    body = new_order(ns, "bad")
    body["lines"] = [{**LINES[0], "billing_cycle": "triennial"}]
    answer = stack.api("POST", "/api/orders", json=body)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"].startswith("lines[0]")
    body["lines"] = [{**LINES[1], "term_duration": "P3Y", "billing_cycle": "monthly",
                      "custom_term_end_date": "2000-01-31"}]  # fmt: skip
    answer = stack.api("POST", "/api/orders", json=body)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "lines[0].custom_term_end_date"
    assert stack.instance(f"order-{body['order_id']}") is None


def partner_center_faults(stack: LocalStack, **values: Any) -> None:
    """The Partner Center sandbox's fault injection (docs/sandbox-partner-center.md)."""
    answer = requests.post(
        stack.sandbox_url("partner-center") + "/_sandbox/faults",
        json=values,
        verify=str(stack.settings.partner_center_ca_bundle),
        timeout=10,
    )
    answer.raise_for_status()


def test_throttling_5xx_bursts_and_lost_answers_neither_stop_an_order_nor_buy_twice(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    bodies = [new_order(ns, f"f{n}") for n in range(3)]
    # 429 with Retry-After on 30 % of requests, 503 on 20 %, and the next 6 writes processed
    # with their answers lost (a 500 after the effect): the customer, the MCA, carts, checkouts
    partner_center_faults(
        stack, throttle_rate=0.3, retry_after_ms=300, fail_5xx_rate=0.2, lose_next=6
    )
    try:
        outputs = [place(stack, body) for body in bodies]
    finally:
        partner_center_faults(stack, throttle_rate=0.0, fail_5xx_rate=0.0, lose_next=0)
    pc = stack.partner_center
    domains = [c.domain for c in pc.list_customers()]
    for body, done in zip(bodies, outputs, strict=True):
        assert done["status"] == "provisioned", (done["reason"], done["steps"][-2:])
        domain = body["customer"]["domain"]
        assert domains.count(domain) == 1
        tenant = done["tenant_id"]
        assert len(pc.mca_attestations(tenant)) == 1
        assert sorted(o.id for o in pc.list_orders(tenant)) == sorted(
            done["partner_center_order_ids"]
        )
        assert sorted(s.quantity for s in pc.list_subscriptions(tenant)) == [1, 2, 5]
        cus = stripe_customer_of(stack, domain.split(".")[0])
        invoices = stack.stripe.v1.invoices.list({"customer": cus.id}).data
        assert [i.status for i in invoices] == ["paid"]


def test_a_card_setup_link_is_mailed_and_the_order_goes_on_once_the_card_is_saved(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    body = new_order(ns, "link")
    del body["customer"]["payment_method"]
    body["customer"]["payment"] = "card_link"
    # The customer acts at once. On the virtual clock an idle host jumps to the next due
    # timer (the reminder a day on, then the timeout): a loaded machine's pause between two
    # of the customer's requests would be days. The clock is held until the card is taken.
    with stack.clock_held():
        assert stack.api("POST", "/api/orders", json=body).status_code == 202
        deadline = time.monotonic() + 60
        while (view := ok(stack.api("GET", f"/api/orders/{body['order_id']}")))[
            "status"
        ] != "awaiting_payment_method":
            assert time.monotonic() < deadline, view
        links = [s["detail"] for s in view["steps"] if s["step"] == "card_link_sent"]
        assert len(links) == 1, view  # no reminder: a day has not passed
        # the customer saves a card on the hosted page; Stripe's checkout.session.completed
        # reaches the workflow through event intake as `card_updated`
        saved = requests.post(links[0], data={"payment_method": "pm_card_visa"}, timeout=10)
        assert saved.status_code == 200, saved.text
        # Stripe's page sends the customer back to cspflow's own page for the order (no
        # storefront return URL is configured): the card is saved, what happens next. (The
        # link carries CSPFLOW_PUBLIC_BASE_URL, not the test stack's port: read its path.)
        back = re.search(r"id='next' href='https?://[^/']+(/[^']*)'", saved.text)
        assert back is not None, saved.text
        assert back.group(1) == f"/api/orders/{body['order_id']}/card-setup/done"
        page = stack.api("GET", back.group(1), headers={"Accept": "text/html"}, key=None)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "Your card is saved" in page.text and body["order_id"] in page.text
        while (view := ok(stack.api("GET", f"/api/orders/{body['order_id']}")))[
            "status"
        ] == "awaiting_payment_method":
            assert time.monotonic() < deadline + 60, view
    mails = Inbox(stack.mail).messages(to=ns.email("ada"))
    assert mails and mails[0]["subject"].startswith("Add a card to complete your order")
    finished = stack.wait_for_instance(f"order-{body['order_id']}", "Completed", timeout=240)
    assert finished["output"]["status"] == "provisioned", finished["output"]
    cus = stripe_customer_of(stack, ns.domain_prefix("link"))
    invoices = stack.stripe.v1.invoices.list({"customer": cus.id}).data
    assert [i.status for i in invoices] == ["paid"]


def test_a_checkout_partner_center_refuses_after_payment_refunds_what_was_paid(
    stack: LocalStack, ns: Namespace, priced: dict[tuple[str, str, str], int]
):
    # Partner Center sells Business Basic up to 300 seats (the SKU's maximumQuantity): the
    # catalogue says so, and the order is refused before anything starts
    # (docs/rules.md#seat-limits) ...
    body = new_order(ns, "refund")
    body["lines"] = [{**LINES[0], "quantity": 301}]
    refused = stack.api("POST", "/api/orders", json=body)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["code"], problem["errors"][0]["field"]) == (
        "quantity_not_offered",
        "lines[0].quantity",
    )
    # ... unless the book's catalogue is stale: then the cart refuses 301 (a 400 with
    # Microsoft's code), after the first invoice was paid.
    offers = Book(stack.settings).offers
    basic = offers.get("US", "USD", BASIC, "P1Y", "monthly")
    offers.save(basic.model_copy(update={"max_quantity": None}))
    try:
        done = place(stack, body)
    finally:
        offers.save(basic)
    assert done["status"] == "failed" and "did not take the order" in done["reason"]
    assert [s["step"] for s in done["steps"]][-1] == "refunded"
    tenant = done["tenant_id"]
    assert stack.partner_center.list_orders(tenant) == []
    cus = stripe_customer_of(stack, ns.domain_prefix("refund"))
    (invoice,) = stack.stripe.v1.invoices.list({"customer": cus.id}).data
    paid = priced[(BASIC, "P1Y", "monthly")] * 301
    assert (invoice.status, invoice.amount_paid) == ("paid", paid)
    notes = stack.stripe.v1.credit_notes.list({"invoice": invoice.id}).data
    (note,) = (n.to_dict() for n in notes)
    assert (note["amount"], note["type"], len(note["refunds"])) == (paid, "post_payment", 1)
    (mail,) = Inbox(stack.mail).messages(to=ns.email("ada"))
    assert "could not be completed" in mail["subject"]
