"""The routing table, a test per row: each event type against the real sandboxes and a
book in Azurite, with the Durable client faked (FakeOrchestrations) so every start and
signal is seen, both with the workflow deployed and without it (the step kept in the
book's WorkflowInbox)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.models import Invoice, InvoiceLine, Money, Renewal
from shared.payments import StripePayments
from tests.shared.book.records import dunning_case
from tests.triggers.intake_world import (
    FakeOrchestrations,
    World,
    book_customer,
    latest_event,
    pc_message,
    stripe_message_of,
)
from triggers.queues.routing import (
    DUNNING,
    NOT_ACTED,
    ONBOARDING,
    RECONCILIATION,
    RENEWAL,
    ROUTES,
    dunning_instance,
    renewal_instance,
    route_of,
    table,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC)


def consume(world: World, message, orchestrations=None, registered=()):
    consumer = world.consumer(orchestrations or FakeOrchestrations(), set(registered))
    return asyncio.run(consumer.consume(message))


def test_every_row_has_a_test_here_and_is_in_docs_intake():
    tested = {
        "subscription-updated",
        "invoice-ready",
        "invoice.payment_failed",
        "invoice.overdue",
        "invoice.paid",
        "payment_method.attached",
        "payment_method.automatically_updated",
        "checkout.session.completed",
        "charge.dispute.created",
    }
    assert {e for row in ROUTES for e in row.events} == tested
    doc = (ROOT / "docs" / "intake.md").read_text()
    for row in table():
        for event in row["events"]:
            assert f"`{event}`" in doc or event == "*", event
        assert row["workflows"] in doc, row["workflows"]


# -- Partner Center: subscription-updated ---------------------------------------------------


def test_subscription_updated_rereads_partner_center_and_the_book_follows_even_out_of_order(
    world: World,
):
    tenant = world.pc.customer()
    sub = world.pc.buy(tenant, quantity=10)
    customer_id = book_customer(world, tenant=tenant)
    resource = f"customers/{tenant}/subscriptions/{sub}"
    first = pc_message("subscription-updated", resource, NOW)

    outcome = consume(world, first)

    assert "added to the book" in outcome
    stored = world.book.subscriptions.get(customer_id, sub)
    assert stored.record.subscription.quantity == 10
    # Seats added in Partner Center; the event about it arrives before a late copy of an
    # older one: the book follows Partner Center, never the events' order.
    world.pc.client.set_quantity(tenant, sub, 12, request_id="q-12")
    later = pc_message("subscription-updated", resource, NOW + timedelta(minutes=5))
    older = pc_message("subscription-updated", resource, NOW - timedelta(minutes=5))
    assert "corrected from Partner Center: quantity" in consume(world, later)
    assert "already as Partner Center has it" in consume(world, older)
    assert world.book.subscriptions.get(customer_id, sub).record.subscription.quantity == 12
    timeline = world.book.timeline.page(customer_id).items
    assert [e.id for e in timeline] == [
        f"partner_center:subscription:{sub}:v0",
        f"partner_center:subscription:{sub}:v1",
    ]
    processed = world.book.processed_events.seen("partner_center", later.key)
    assert processed is not None and "quantity" in (processed.outcome or "")


def test_subscription_updated_signals_the_open_renewal_or_keeps_the_signal(world: World):
    tenant = world.pc.customer()
    sub = world.pc.buy(tenant, quantity=3)
    customer_id = book_customer(world, tenant=tenant)
    term_end = datetime(2027, 3, 2, tzinfo=UTC)
    world.book.renewals.open(
        Renewal(customer_id=customer_id, subscription_id=sub, term_end=term_end)
    )
    resource = f"customers/{tenant}/subscriptions/{sub}"
    instance = renewal_instance(sub, term_end)

    fake = FakeOrchestrations(running={instance})
    consume(world, pc_message("subscription-updated", resource, NOW), fake, {RENEWAL})
    [(signalled, event, data)] = fake.signals
    assert (signalled, event, data["subscription_id"]) == (instance, "subscription_updated", sub)

    message = pc_message("subscription-updated", resource, NOW + timedelta(seconds=1))
    outcome = consume(world, message)  # no renewal workflow deployed
    assert "kept for the workflow" in outcome
    kept = world.book.workflow_inbox.find(RENEWAL, instance, message.key)
    assert kept is not None and kept.action == "signal" and kept.customer_id == customer_id


def test_subscription_updated_of_a_tenant_the_book_does_not_have_is_recorded_only(world: World):
    tenant = world.pc.customer()
    sub = world.pc.buy(tenant)
    message = pc_message("subscription-updated", f"customers/{tenant}/subscriptions/{sub}", NOW)
    outcome = consume(world, message)
    assert "not a customer in the book" in outcome
    assert world.book.processed_events.seen("partner_center", message.key) is not None


# -- Partner Center: invoice-ready ----------------------------------------------------------


def test_invoice_ready_starts_reconciliation_of_the_invoice_or_keeps_the_start(world: World):
    message = pc_message("invoice-ready", "invoices/G000000042", NOW)
    fake = FakeOrchestrations()
    assert "started reconciliation reconciliation-G000000042" in consume(
        world, message, fake, {RECONCILIATION}
    )
    assert fake.started["reconciliation-G000000042"][1]["invoice_id"] == "G000000042"

    kept_message = pc_message("invoice-ready", "invoices/G000000043", NOW)
    consume(world, kept_message)
    kept = world.book.workflow_inbox.find(
        RECONCILIATION, "reconciliation-G000000043", kept_message.key
    )
    assert kept is not None and kept.action == "start"
    assert [k.instance_id for k in world.book.workflow_inbox.of_workflow(RECONCILIATION).items] == [
        "reconciliation-G000000043"
    ]


# -- Stripe ---------------------------------------------------------------------------------


def failing_invoice(world: World, metadata: dict[str, str] | None = None) -> tuple[str, str]:
    """A Stripe customer whose card declines and an open invoice it failed to pay."""
    payments: StripePayments = world.payments
    tag = datetime.now(UTC).strftime("%H%M%S%f")
    cus = payments.create_customer(f"r:{tag}:c", partner_customer_id="c", name="Contoso")
    payments.attach_payment_method(f"r:{tag}:pm", cus.id, "pm_card_chargeCustomerFail")
    inv = payments.create_invoice(f"r:{tag}:i", cus.id, currency="EUR", metadata=metadata)
    payments.add_invoice_item(
        f"r:{tag}:i", cus.id, invoice_id=inv.id, amount=5_000, currency="EUR", description="x"
    )
    payments.finalize_invoice(f"r:{tag}:i", inv.id)
    payments.pay_invoice(f"r:{tag}:p1", inv.id)
    return cus.id, inv.id


def book_invoice(world: World, customer_id: str, stripe_invoice: str, invoice_id: str) -> None:
    line = InvoiceLine(
        description="seats",
        kind="new",
        quantity=1,
        amount=Money(amount_minor=5_000, currency="EUR"),
        period_start=NOW,
        period_end=NOW + timedelta(days=30),
    )
    world.book.invoices.issue(
        Invoice(
            id=invoice_id,
            customer_id=customer_id,
            currency="EUR",
            lines=(line,),
            status="open",
            issued_at=NOW,
            due_at=NOW,
            stripe_invoice_id=stripe_invoice,
        )
    )


def test_payment_failed_starts_dunning_of_the_invoice_and_notes_it(world: World):
    cus, inv = failing_invoice(world, {"cspflow_invoice_id": "inv-7"})
    customer_id = book_customer(world, stripe_customer=cus)
    book_invoice(world, customer_id, inv, "inv-7")
    message = stripe_message_of(latest_event(world, "invoice.payment_failed", id=inv))

    fake = FakeOrchestrations()
    outcome = consume(world, message, fake, {DUNNING})

    assert "started dunning dunning-inv-7" in outcome
    name, data = fake.started["dunning-inv-7"]
    assert (name, data["stripe_invoice_id"], data["event_key"]) == (DUNNING, inv, message.key)
    entry = world.book.timeline.entry(customer_id, f"stripe:{message.key}")
    assert entry is not None and "failed" in entry.summary
    assert world.book.invoices.get(customer_id, "inv-7").record.status == "open"


def test_a_second_payment_failure_for_the_invoice_signals_its_running_dunning(world: World):
    cus, inv = failing_invoice(world, {"cspflow_invoice_id": "inv-8"})
    customer_id = book_customer(world, stripe_customer=cus)
    book_invoice(world, customer_id, inv, "inv-8")
    first = stripe_message_of(latest_event(world, "invoice.payment_failed", id=inv))
    fake = FakeOrchestrations()
    assert "started dunning dunning-inv-8" in consume(world, first, fake, {DUNNING})
    # The customer tries again on the pay link and is declined: Stripe's second event.
    world.payments.pay_invoice("r:second", inv)
    second = stripe_message_of(latest_event(world, "invoice.payment_failed", id=inv))
    assert second.key != first.key

    outcome = consume(world, second, fake, {DUNNING})

    assert "dunning dunning-inv-8 running: signalled payment_failed" in outcome
    [(instance, event, data)] = fake.signals
    assert (instance, event, data["event_key"]) == ("dunning-inv-8", "payment_failed", second.key)
    assert fake.starts == ["dunning-inv-8", "dunning-inv-8"]


def overdue_event(world: World, invoice_id: str) -> dict[str, Any]:
    """Stripe's `invoice.overdue` for the invoice as it is now (the sandbox emits it when its
    clock passes the due date: tests/sandbox/stripe/test_invoice_events.py)."""
    invoice = world.sdk.v1.invoices.retrieve(invoice_id).to_dict()
    return {
        "id": f"evt_overdue_{invoice_id}",
        "type": "invoice.overdue",
        "created": int(NOW.timestamp()),
        "livemode": False,
        "data": {"object": invoice},
    }


def sent_invoice(world: World, metadata: dict[str, str]) -> tuple[str, str]:
    """A Stripe customer and an open invoice on invoice terms (send_invoice), unpaid."""
    payments: StripePayments = world.payments
    tag = datetime.now(UTC).strftime("%H%M%S%f")
    cus = payments.create_customer(f"r:{tag}:c", partner_customer_id="c", name="Contoso")
    inv = payments.create_invoice(
        f"r:{tag}:i", cus.id, currency="EUR", metadata=metadata, days_until_due=14
    )
    payments.add_invoice_item(
        f"r:{tag}:i", cus.id, invoice_id=inv.id, amount=5_000, currency="EUR", description="x"
    )
    payments.finalize_invoice(f"r:{tag}:i", inv.id)
    return cus.id, inv.id


def test_an_overdue_invoice_on_invoice_terms_starts_dunning_without_a_charge(world: World):
    cus, inv = sent_invoice(world, {"cspflow_invoice_id": "inv-od"})
    customer_id = book_customer(world, stripe_customer=cus)
    book_invoice(world, customer_id, inv, "inv-od")
    message = stripe_message_of(overdue_event(world, inv))
    fake = FakeOrchestrations()

    outcome = consume(world, message, fake, {DUNNING})

    assert "started dunning dunning-inv-od" in outcome
    name, data = fake.started["dunning-inv-od"]
    assert (name, data["stripe_invoice_id"], data["overdue"]) == (DUNNING, inv, True)
    entry = world.book.timeline.entry(customer_id, f"stripe:{message.key}")
    assert entry is not None and "overdue" in entry.summary
    # Paid by transfer before the event is processed: no case.
    world.sdk.v1.invoices.pay(inv, {"paid_out_of_band": True})
    late = stripe_message_of({**overdue_event(world, inv), "id": "evt_overdue_late"})
    fresh = FakeOrchestrations()
    assert "is paid now: no dunning" in consume(world, late, fresh, {DUNNING})
    assert fresh.started == {}


def test_payment_failed_without_the_dunning_workflow_keeps_the_start(world: World):
    _cus, inv = failing_invoice(world)
    message = stripe_message_of(latest_event(world, "invoice.payment_failed", id=inv))
    outcome = consume(world, message)
    assert "not in the book" in outcome  # the Stripe customer is no book customer
    kept = world.book.workflow_inbox.find(DUNNING, dunning_instance(inv), message.key)
    assert kept is not None and kept.action == "start" and kept.event == "payment_failed"


def test_a_payment_failure_processed_after_the_invoice_was_paid_starts_no_dunning(world: World):
    cus, inv = failing_invoice(world)
    failed = stripe_message_of(latest_event(world, "invoice.payment_failed", id=inv))
    world.payments.attach_payment_method("r:good", cus, "pm_card_visa")
    world.payments.pay_invoice("r:p2", inv)
    fake = FakeOrchestrations()
    outcome = consume(world, failed, fake, {DUNNING})
    assert "is paid now: no dunning" in outcome
    assert fake.started == {}


def test_invoice_payment_succeeded_is_recorded_only_as_invoice_paid_says_the_same(world: World):
    """https://docs.stripe.com/api/events/types#event_types-invoice.paid: sent for every
    payment that settles an invoice (and one paid out of band)."""
    cus, inv = failing_invoice(world, {"cspflow_invoice_id": "inv-8"})
    customer_id = book_customer(world, stripe_customer=cus)
    book_invoice(world, customer_id, inv, "inv-8")
    world.payments.attach_payment_method("r:good", cus, "pm_card_visa")
    world.payments.pay_invoice("r:p2", inv)
    message = stripe_message_of(latest_event(world, "invoice.payment_succeeded", id=inv))
    assert route_of(message) is NOT_ACTED["stripe"]
    assert latest_event(world, "invoice.paid", id=inv) is not None


def test_invoice_paid_marks_the_book_invoice_paid_and_signals_its_dunning(world: World):
    cus, inv = failing_invoice(world, {"cspflow_invoice_id": "inv-9", "cspflow_order_id": "o-9"})
    customer_id = book_customer(world, stripe_customer=cus)
    book_invoice(world, customer_id, inv, "inv-9")
    world.payments.attach_payment_method("r:good", cus, "pm_card_visa")
    world.payments.pay_invoice("r:p2", inv)
    message = stripe_message_of(latest_event(world, "invoice.paid", id=inv))
    assert route_of(message).events == ("invoice.paid",)

    fake = FakeOrchestrations(running={"dunning-inv-9", "order-o-9"})
    outcome = consume(world, message, fake, {DUNNING, ONBOARDING})

    assert "book invoice inv-9 is paid" in outcome
    assert world.book.invoices.get(customer_id, "inv-9").record.status == "paid"
    assert world.book.timeline.entry(customer_id, "invoice:inv-9:paid") is not None
    assert sorted((i, e) for i, e, _ in fake.signals) == [
        ("dunning-inv-9", "invoice_paid"),
        ("order-o-9", "invoice_paid"),
    ]


def test_invoice_paid_the_book_already_has_paid_writes_nothing_and_still_signals(world: World):
    cus, inv = failing_invoice(world, {"cspflow_invoice_id": "inv-6"})
    customer_id = book_customer(world, stripe_customer=cus)
    book_invoice(world, customer_id, inv, "inv-6")
    world.payments.attach_payment_method("r:good", cus, "pm_card_visa")
    world.payments.pay_invoice("r:p2", inv)
    paid = world.book.invoices.update(
        customer_id, "inv-6", lambda r: r.model_copy(update={"status": "paid"})
    )  # as the billing run records the payment it made
    message = stripe_message_of(latest_event(world, "invoice.paid", id=inv))

    fake = FakeOrchestrations(running={"dunning-inv-6"})
    outcome = consume(world, message, fake, {DUNNING})

    assert "book invoice inv-6 already paid" in outcome
    assert world.book.invoices.get(customer_id, "inv-6").etag == paid.etag
    assert [(i, e) for i, e, _ in fake.signals] == [("dunning-inv-6", "invoice_paid")]


def test_invoice_paid_without_workflows_keeps_a_signal_only_for_a_kept_dunning(world: World):
    cus, inv = failing_invoice(world)
    failed = stripe_message_of(latest_event(world, "invoice.payment_failed", id=inv))
    consume(world, failed)  # dunning not deployed: its start is kept
    world.payments.attach_payment_method("r:good", cus, "pm_card_visa")
    world.payments.pay_invoice("r:p2", inv)
    paid = stripe_message_of(latest_event(world, "invoice.paid", id=inv))
    consume(world, paid)
    kept = world.book.workflow_inbox.of_instance(DUNNING, dunning_instance(inv)).items
    assert {(k.action, k.event, k.event_key) for k in kept} == {
        ("start", "payment_failed", failed.key),
        ("signal", "invoice_paid", paid.key),
    }
    # An invoice nobody dunned: no signal is kept for it.
    other_customer, other = failing_invoice(world)
    world.payments.attach_payment_method("r:good2", other_customer, "pm_card_visa")
    world.payments.pay_invoice("r:p3", other)
    consume(world, stripe_message_of(latest_event(world, "invoice.paid", id=other)))
    assert world.book.workflow_inbox.of_instance(DUNNING, dunning_instance(other)).items == []


@pytest.mark.parametrize(
    "event_type", ["payment_method.attached", "payment_method.automatically_updated"]
)
def test_a_card_change_goes_on_the_timeline_and_signals_the_customers_open_dunning(
    world: World, event_type: str
):
    cus, _inv = failing_invoice(world)
    customer_id = book_customer(world, stripe_customer=cus)
    world.book.dunning.open(dunning_case("inv-3", customer_id))
    pm = world.payments.attach_payment_method("r:new", cus, "pm_card_sandbox_expires_2026_02")
    if event_type == "payment_method.automatically_updated":
        requests.post(
            f"{world.stripe_sandbox.base_url}/_sandbox/payment_methods/"
            f"{pm.card.payment_method_id}/automatic_update",  # type: ignore[union-attr]
            data={"exp_month": "2", "exp_year": "2030"},
            timeout=10,
        ).raise_for_status()
    message = stripe_message_of(latest_event(world, event_type, customer=cus))

    fake = FakeOrchestrations(running={"dunning-inv-3"})
    outcome = consume(world, message, fake, {DUNNING})

    assert fake.signals[0][:2] == ("dunning-inv-3", "card_updated")
    entry = world.book.timeline.entry(customer_id, f"stripe:{message.key}")
    assert entry is not None and "card" in entry.summary and customer_id in outcome


def test_a_card_saved_as_onboarding_makes_the_stripe_customer_goes_on_its_timeline(world: World):
    # The book names the Stripe customer a step later (docs/onboarding.md): the Stripe
    # customer's metadata says whose it is.
    customer_id = book_customer(world)
    cus = world.payments.create_customer("r:made", partner_customer_id=customer_id, name="F")
    world.payments.attach_payment_method("r:made-card", cus.id, "pm_card_visa")
    message = stripe_message_of(latest_event(world, "payment_method.attached", customer=cus.id))
    outcome = consume(world, message)
    entry = world.book.timeline.entry(customer_id, f"stripe:{message.key}")
    assert entry is not None and "card saved" in entry.summary and customer_id in outcome


def test_a_card_saved_before_the_reserve_put_the_customer_in_the_book_waits_on_its_timeline(
    world: World,
):
    # The reserve and the Stripe customer with its card run together: the card's event may
    # be read before the book has the customer at all.
    cus = world.payments.create_customer("r:early", partner_customer_id="c-early", name="F")
    world.payments.attach_payment_method("r:early-card", cus.id, "pm_card_visa")
    message = stripe_message_of(latest_event(world, "payment_method.attached", customer=cus.id))
    assert "c-early" in consume(world, message)
    entry = world.book.timeline.entry("c-early", f"stripe:{message.key}")
    assert entry is not None and "card saved" in entry.summary


def test_a_card_of_a_stripe_customer_made_by_someone_else_is_nobodys(world: World):
    # made in the Dashboard, say: no cspflow id in its metadata
    cus = world.sdk.v1.customers.create({"name": "Not made by cspflow"}).id
    world.payments.attach_payment_method("r:foreign-card", cus, "pm_card_visa")
    message = stripe_message_of(latest_event(world, "payment_method.attached", customer=cus))
    assert "not in the book" in consume(world, message)


def test_a_card_of_a_stripe_customer_made_for_a_customer_who_has_another_is_not_theirs(
    world: World,
):
    customer_id = book_customer(world, stripe_customer="cus_TheirOwn")
    cus = world.payments.create_customer("r:other", partner_customer_id=customer_id, name="F")
    world.payments.attach_payment_method("r:other-card", cus.id, "pm_card_visa")
    message = stripe_message_of(latest_event(world, "payment_method.attached", customer=cus.id))
    assert "not in the book" in consume(world, message)
    assert world.book.timeline.entry(customer_id, f"stripe:{message.key}") is None


def test_a_card_saved_through_a_card_update_link_signals_the_orders_onboarding(world: World):
    cus, _ = failing_invoice(world)
    customer_id = book_customer(world, stripe_customer=cus)
    link = world.payments.card_update_link(
        "r:link", cus, success_url="https://portal.example/ok", metadata={"cspflow_order_id": "o-5"}
    )
    requests.post(link.url, data={"payment_method": "pm_card_mastercard"}, timeout=10)
    message = stripe_message_of(latest_event(world, "checkout.session.completed", customer=cus))
    fake = FakeOrchestrations(running={"order-o-5"})
    consume(world, message, fake, {ONBOARDING, DUNNING})
    assert [(i, e) for i, e, _ in fake.signals] == [("order-o-5", "card_updated")]
    entry = world.book.timeline.entry(customer_id, f"stripe:{message.key}")
    assert entry is not None and "card update link" in entry.summary


def test_a_card_saved_through_a_card_expiry_link_becomes_the_default_and_signals_dunning(
    world: World,
):
    cus, _ = failing_invoice(world)
    customer_id = book_customer(world, stripe_customer=cus)
    link = world.payments.card_update_link(
        "r:expiry",
        cus,
        success_url="https://portal.example/ok",
        metadata={"cspflow_card_update": "card_expiry"},
    )
    requests.post(link.url, data={"payment_method": "pm_card_mastercard"}, timeout=10)
    message = stripe_message_of(latest_event(world, "checkout.session.completed", customer=cus))
    fake = FakeOrchestrations(running={"dunning-inv-x"})
    world.book.dunning.open(dunning_case("inv-x", customer_id=customer_id))
    outcome = consume(world, message, fake, {DUNNING})
    assert "now the default for invoices" in outcome
    default = world.payments.get_customer(cus).default_payment_method_id
    brands = {c.payment_method_id: c.brand for c in world.payments.list_cards(cus)}
    assert default is not None and brands[default] == "mastercard"
    [(instance, event, data)] = fake.signals
    assert (instance, event) == ("dunning-inv-x", "card_updated")
    assert str(data["setup_intent_id"]).startswith("seti_")


def test_a_dispute_raises_an_ops_alert_and_goes_on_the_timeline(world: World):
    from shared.payments import ChargeLine

    payments = world.payments
    cus = payments.create_customer("r:d", partner_customer_id="c", name="Litware")
    payments.attach_payment_method("r:dpm", cus.id, "pm_card_createDispute")
    payments.charge_now(
        "r:dp",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=900, description="x")],
        description="x",
    )
    customer_id = book_customer(world, stripe_customer=cus.id)
    message = stripe_message_of(latest_event(world, "charge.dispute.created"))

    outcome = consume(world, message)

    dispute_id = message.stripe["dispute_id"]  # type: ignore[index]
    alert = world.book.alerts.find(datetime.now(UTC), f"dispute:{dispute_id}")
    assert alert is not None and alert.kind == "dispute" and customer_id in alert.summary
    assert "ops alert raised" in outcome
    entry = world.book.timeline.entry(customer_id, f"stripe:{message.key}")
    assert entry is not None and "dispute" in entry.summary


# -- what cspflow does not act on ---------------------------------------------------------


def test_events_cspflow_does_not_act_on_are_recorded_and_acknowledged(world: World):
    test_created = pc_message("test-created", "registration/validationEvents/abc", NOW)
    assert route_of(test_created) is NOT_ACTED["partner_center"]
    assert consume(world, test_created) == "recorded: cspflow does not act on test-created"
    world.payments.create_customer("r:x", partner_customer_id="c", name="Northwind")
    created = stripe_message_of(latest_event(world, "customer.created"))
    assert route_of(created) is NOT_ACTED["stripe"]
    assert "does not act on customer.created" in consume(world, created)
    for message in (test_created, created):
        assert world.book.processed_events.seen(message.source, message.key) is not None
