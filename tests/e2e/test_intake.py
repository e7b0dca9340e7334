"""Event intake through the whole stack: the sandboxes' own signed webhooks reach devhost's
routes, are queued in Azurite and acted on once; the Partner Center webhook is registered
through the ops route and its test event delivered."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.book import Book
from shared.partner_center.models import AgreementContact, CartLine
from shared.payments import StripePayments
from tests.e2e.harness import LocalStack, Namespace
from tests.sandbox.partner_center.harness import BASIC, new_customer
from tests.shared.book.records import customer as customer_record

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def test_registering_the_partner_center_webhook_delivers_its_test_event(
    stack: LocalStack, ns: Namespace
):
    started = stack.api("POST", "/api/ops/webhooks/partner-center")
    assert started.status_code == 202, started.text
    status = stack.wait_for_instance(started.json()["id"], "Completed", timeout=120)
    report = status["output"]
    assert report["ok"], report
    assert report["webhook_url"].endswith("/api/webhooks/partner-center")
    assert report["action"] in ("created", "updated", "unchanged")
    assert "subscription-updated" in report["events"]
    assert report["test_event"]["status"] == "completed"
    assert report["test_event"]["results"][-1]["responseCode"] == "200"
    registered = stack.partner_center.webhook_registration()
    assert registered is not None and registered.webhook_url == report["webhook_url"]


def test_a_seat_change_in_partner_center_reaches_the_book_through_its_webhook(
    stack: LocalStack, ns: Namespace
):
    pc = stack.partner_center
    created = pc.create_customer(
        new_customer(ns.domain_prefix()), request_id=ns.request_id("customer")
    )
    tenant = created.customer.id
    book = Book(stack.settings)
    customer_id = ns.id("customer")
    book.customers.add(customer_record(customer_id, tenant_id=tenant))
    pc.attest_mca(
        tenant,
        AgreementContact(first_name="Tania", last_name="Carr", email="tania@contoso.example"),
        stack.now(),
        request_id=ns.request_id("mca"),
    )
    cart = pc.create_cart(
        tenant,
        [CartLine(catalog_item_id=BASIC, quantity=3, term_duration="P1Y", billing_cycle="monthly")],
        request_id=ns.request_id("cart"),
    )
    checkout = pc.checkout(tenant, cart.id, request_id=ns.request_id("checkout"))
    sub = checkout.orders[0].line_items[0].subscription_id
    assert sub is not None
    pc.set_quantity(tenant, sub, 4, request_id=ns.request_id("seats"))

    stored = eventually(
        lambda: book.subscriptions.find(customer_id, sub),
        "the subscription-updated webhook never reached the book",
    )
    eventually(
        lambda: book.subscriptions.get(customer_id, sub).record.subscription.quantity == 4,
        "the book never showed 4 seats",
    )
    assert stored.record.customer_id == customer_id


def test_a_failed_payment_delivered_by_stripe_is_processed_once_and_starts_dunning(
    stack: LocalStack, ns: Namespace
):
    settings = stack.settings
    payments = StripePayments.from_settings(settings)
    cus = payments.create_customer(
        ns.request_id("c"), partner_customer_id=ns.id("c"), name=ns.company("Fabrikam")
    )
    book = Book(settings)
    customer_id = ns.id("customer")
    book.customers.add(customer_record(customer_id, stripe_customer_id=cus.id))
    payments.attach_payment_method(ns.request_id("pm"), cus.id, "pm_card_chargeCustomerFail")
    inv = payments.create_invoice(ns.request_id("i"), cus.id, currency="EUR")
    payments.add_invoice_item(
        ns.request_id("i"), cus.id, invoice_id=inv.id, amount=900, currency="EUR", description="x"
    )
    payments.finalize_invoice(ns.request_id("i"), inv.id)
    payments.pay_invoice(ns.request_id("p"), inv.id)
    event = stack.stripe.v1.events.list({"type": "invoice.payment_failed", "limit": 20}).data
    [failed] = [e for e in event if e.data.object["id"] == inv.id]

    processed = eventually(
        lambda: book.processed_events.seen("stripe", failed.id),
        "Stripe's delivery was never processed",
    )
    assert processed.outcome is not None and f"dunning of invoice {inv.id}" in processed.outcome
    # The dunning workflow is deployed: the case is started, not kept in the inbox.
    assert f"started dunning dunning-{inv.id}" in processed.outcome
    assert book.workflow_inbox.find("dunning", f"dunning-{inv.id}", failed.id) is None
    assert stack.instance(f"dunning-{inv.id}") is not None
    entry = book.timeline.entry(customer_id, f"stripe:{failed.id}")
    assert entry is not None and "failed" in entry.summary
