"""1,000 webhook deliveries, both sources mixed, 30 % of the events delivered twice, in
shuffled order, through the real receivers, the queues in Azurite and the consumer (16 at a
time, as host.json's batchSize runs them): exactly the right orchestrations started and
signalled, and exactly the right book updates, checked against a count made from the
arranged world and the list of events alone, not from what the code did."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.sandbox.stripe.harness import API_KEY
from tests.shared.book.records import dunning_case
from tests.triggers.intake_world import FakeOrchestrations, World, book_customer
from triggers.queues.routing import (
    DUNNING,
    LICENCE_CHANGE,
    ONBOARDING,
    RECONCILIATION,
    RENEWAL,
    ROUTES,
)

pytestmark = pytest.mark.slow

DELIVERIES = 1000
DUPLICATE_SHARE = 0.3
UNIQUE = round(DELIVERIES / (1 + DUPLICATE_SHARE))  # 769 events, 231 of them twice
SEED = 20260302
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STRIPE_ACTED = {e for row in ROUTES if row.source == "stripe" for e in row.events}


def arrange_partner_center(world: World) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """Book customers with subscriptions in Partner Center, some changed since; each
    subscription (tenant, id, book customer) and its final quantity."""
    subs = []
    for n in range(4):
        tenant = world.pc.customer()
        customer_id = book_customer(world, tenant=tenant, customer_id=f"pc-{n}")
        for m in range(5):
            subs.append((tenant, world.pc.buy(tenant, quantity=5 + m), customer_id))
    final = {}
    for i, (tenant, sub, _) in enumerate(subs):
        quantity = 5 + i % 5
        if i % 3 == 0:
            quantity += 2
            world.pc.client.set_quantity(tenant, sub, quantity, request_id=f"q-{sub}")
        final[sub] = quantity
    return subs, final


def arrange_stripe(world: World) -> dict[str, Any]:
    """Book customers in Stripe: invoices that failed and stayed open, invoices that failed
    and were paid later (their dunning already running), cards saved by customers with an
    open dunning case."""
    payments = world.payments
    open_invoices, paid_invoices, customers = [], [], []
    for n in range(8):
        cus = payments.create_customer(f"k:{n}:c", partner_customer_id=f"s-{n}", name=f"S{n}")
        customer_id = book_customer(world, stripe_customer=cus.id, customer_id=f"s-{n}")
        customers.append((cus.id, customer_id))
        payments.attach_payment_method(f"k:{n}:pm", cus.id, "pm_card_chargeCustomerFail")
        mine = []
        for i in range(4):
            key = f"k:{n}:{i}"
            inv = payments.create_invoice(key, cus.id, currency="EUR")
            payments.add_invoice_item(
                key, cus.id, invoice_id=inv.id, amount=1000 + i, currency="EUR", description="x"
            )
            payments.finalize_invoice(key, inv.id)
            payments.pay_invoice(f"{key}:p", inv.id)
            mine.append(inv.id)
        world.book.dunning.open(dunning_case(f"case-{n}", customer_id))
        payments.attach_payment_method(f"k:{n}:good", cus.id, "pm_card_visa")
        for inv_id in mine[:2]:
            payments.pay_invoice(f"k:{inv_id}:p2", inv_id)
            paid_invoices.append(inv_id)
        open_invoices += mine[2:]
    return {"open": open_invoices, "paid": paid_invoices, "customers": customers}


def stripe_events(world: World) -> list[dict[str, Any]]:
    """Every event the Stripe sandbox recorded, as its JSON (what a delivery's body is)."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = requests.get(
            f"{world.stripe_sandbox.base_url}/v1/events",
            params=params,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        ).json()
        events += page["data"]
        if not page["has_more"]:
            return events
        params["starting_after"] = page["data"][-1]["id"]


def test_a_thousand_mixed_deliveries_act_exactly_once_each(world: World):
    rng = random.Random(SEED)
    subs, final_quantity = arrange_partner_center(world)
    stripe_world = arrange_stripe(world)
    stripe_all = stripe_events(world)

    # -- the unique events: every Stripe event the flows made, then Partner Center's ---------
    deliveries: list[tuple[str, bytes]] = [("stripe", json.dumps(e).encode()) for e in stripe_all]
    pc_unique: list[tuple[str, str, datetime]] = []
    updates = 0
    for i in range(UNIQUE - len(deliveries)):
        at = T + timedelta(seconds=i)
        if i % 5 == 0:
            pc_unique.append(("invoice-ready", f"invoices/G{i:09d}", at))
        elif i % 7 == 0:
            pc_unique.append(
                ("granular-admin-relationship-approved", f"customers/{subs[0][0]}", at)
            )
        else:
            tenant, sub, _ = subs[updates % len(subs)]
            updates += 1
            pc_unique.append(
                ("subscription-updated", f"customers/{tenant}/subscriptions/{sub}", at)
            )
    deliveries += [("partner_center", world.pc_body(*event)) for event in pc_unique]
    assert len(deliveries) == UNIQUE
    twice = rng.sample(deliveries, DELIVERIES - UNIQUE)
    sent = deliveries + twice
    rng.shuffle(sent)
    assert len(sent) == DELIVERIES

    # -- the independent count ---------------------------------------------------------------
    stripe_by_type = Counter(e["type"] for e in stripe_all)
    failed_open = {
        e["data"]["object"]["id"]
        for e in stripe_all
        if e["type"] == "invoice.payment_failed"
        and e["data"]["object"]["id"] in stripe_world["open"]
    }
    expected_starts = {f"dunning-{inv}" for inv in failed_open} | {
        f"reconciliation-{resource.rsplit('/', 1)[1].upper()}"
        for name, resource, _ in pc_unique
        if name == "invoice-ready"
    }
    paid_signals = {
        (f"dunning-{e['data']['object']['id']}", "invoice_paid", e["id"])
        for e in stripe_all
        if e["type"] == "invoice.paid"
    }
    case_of = {
        stripe_id: f"dunning-case-{n}" for n, (stripe_id, _) in enumerate(stripe_world["customers"])
    }
    card_signals = {
        (case_of[e["data"]["object"]["customer"]], "card_updated", e["id"])
        for e in stripe_all
        if e["type"] == "payment_method.attached"
    }
    assert paid_signals and card_signals and len(expected_starts) > 50

    # -- deliver ---------------------------------------------------------------------------------
    for source, body in sent:
        post = world.post_stripe if source == "stripe" else world.post_partner_center
        answer = post(body)
        assert answer.status_code == 200, answer.get_body()

    # -- consume, 16 at a time, as the host does ----------------------------------------------
    fake = FakeOrchestrations(
        running={f"dunning-{inv}" for inv in stripe_world["paid"]} | set(case_of.values())
    )
    registered = {DUNNING, RECONCILIATION, ONBOARDING, RENEWAL, LICENCE_CHANGE}

    async def drain(source: str) -> int:
        done = 0
        while batch := world.take(source, 16):
            await asyncio.gather(*(world.consumer(fake, registered).consume(m) for m in batch))
            done += len(batch)
        return done

    consumed = asyncio.run(drain("partner_center")) + asyncio.run(drain("stripe"))
    assert consumed == DELIVERIES

    # -- every event processed once ------------------------------------------------------------
    book = world.book
    for source, body in deliveries:
        doc = json.loads(body)
        key = doc["id"] if source == "stripe" else None
        if key is not None:
            assert book.processed_events.seen("stripe", key) is not None, key
    assert all(
        book.processed_events.seen("partner_center", _pc_key(*event)) is not None
        for event in pc_unique
    )

    # -- exactly the right orchestrations -------------------------------------------------------
    assert set(fake.started) == expected_starts
    signalled = Counter(
        (instance, event, data["event_key"]) for instance, event, data in fake.signals
    )
    assert set(signalled) == paid_signals | card_signals
    # A copy consumed in the same batch as its twin may signal again: the same key, which
    # the workflow ignores (the signal contract, docs/intake.md).
    assert sum(signalled.values()) - len(signalled) <= DELIVERIES - UNIQUE

    # -- exactly the right book updates ---------------------------------------------------------
    for _tenant, sub, customer_id in subs:
        stored = book.subscriptions.get(customer_id, sub)
        assert stored.record.subscription.quantity == final_quantity[sub], sub
        # added once, corrected at most once: never a write per event
        assert stored.version == 1
        entries = [e.id for e in book.timeline.page(customer_id, limit=1000).items if sub in e.id]
        assert entries == [f"partner_center:subscription:{sub}:v0"]
    failed_notes = Counter(
        e.customer_id
        for _, customer_id in stripe_world["customers"]
        for e in book.timeline.page(customer_id, limit=1000).items
        if e.id.startswith("stripe:") and "failed" in e.summary
    )
    assert sum(failed_notes.values()) == stripe_by_type["invoice.payment_failed"]
    card_notes = sum(
        1
        for _, customer_id in stripe_world["customers"]
        for e in book.timeline.page(customer_id, limit=1000).items
        if e.id.startswith("stripe:") and e.summary.startswith("card saved")
    )
    assert card_notes == stripe_by_type["payment_method.attached"]
    assert book.workflow_inbox.of_workflow(DUNNING).items == []  # every workflow deployed


def _pc_key(name: str, resource: str, at: datetime) -> str:
    from shared.models.intake import partner_center_key

    return partner_center_key(name, f"/v1/{resource}", at)
