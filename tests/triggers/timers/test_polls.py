"""The reconciliation polls against the sandboxes and Azurite: what webhooks missed is found,
through the same queue and key, so a late webhook after the poll does nothing twice."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.storage.queue import TextBase64EncodePolicy

from shared.intake import Enqueuer
from shared.models.intake import PollWatermark
from tests.app_functions import functions_by_name, user_function
from tests.sandbox.stripe.harness import API_KEY
from tests.triggers.intake_world import World, book_customer
from triggers.billing import SCHEDULE as BILLING_SCHEDULE
from triggers.book_sync import SCHEDULE as BOOK_SYNC_SCHEDULE
from triggers.dunning import PARKED_SCHEDULE as PARKED_DUNNING_SCHEDULE
from triggers.dunning import SCHEDULE as CARD_EXPIRY_SCHEDULE
from triggers.reconciliation import SCHEDULE as RECONCILIATION_SCHEDULE
from triggers.renewals import SCHEDULE as RENEWAL_SCHEDULE
from triggers.timers import HOURLY_AUDIT, HOURLY_POISON, HOURLY_STRIPE
from triggers.timers.polls import (
    audit_notices,
    poll_partner_center_audit,
    poll_stripe_events,
    watch_poison_queues,
)

pytestmark = pytest.mark.slow


def consume_all(world: World) -> list[str]:
    outcomes = []
    for source in ("partner_center", "stripe"):
        while batch := world.take(source):
            consumer = world.consumer()
            outcomes += [asyncio.run(consumer.consume(m)) for m in batch]
    return outcomes


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api/webhooks/partner-center"


# -- Partner Center's audit records ------------------------------------------------------------


def test_with_webhooks_off_for_a_day_the_audit_poll_finds_every_change(world: World):
    pc = world.pc
    pc.client.register_webhook(dead_url(), pc.client.webhook_events(), request_id="off")
    tenant = pc.customer()
    customer_id = book_customer(world, tenant=tenant)
    subs = [pc.buy(tenant, quantity=2 + n) for n in range(3)]
    enqueuer = Enqueuer(world.settings)
    client = world.context().partner_center
    quantity = {sub: 2 + n for n, sub in enumerate(subs)}

    # A day of virtual time: every other hour a seat change, every hour the poll.
    for hour in range(1, 25):
        pc.advance(timedelta(hours=1))
        if hour % 2 == 0:
            sub = subs[hour % len(subs)]
            quantity[sub] += 1
            pc.client.set_quantity(tenant, sub, quantity[sub], request_id=f"h{hour}")
        poll_partner_center_audit(world.book, client, enqueuer, pc.clock.now())
        consume_all(world)

    # Every change is in the book, and no webhook got through.
    for sub in subs:
        stored = world.book.subscriptions.get(customer_id, sub)
        assert stored.record.subscription.quantity == quantity[sub], sub
    outbox = [o for o in pc.state()["outbox"] if o["event"]["EventName"] == "subscription-updated"]
    assert len(outbox) == 12 and all(o["state"] != "delivered" for o in outbox)
    assert any(o["state"] == "offline" for o in outbox)  # 10 attempts, then given up

    # Each change's event was processed under the webhook's own key: the webhooks, late
    # (redelivered now), are acknowledged as already processed.
    for o in outbox:
        answer = world.post_partner_center(world_body(o["event"]))
        assert answer.status_code == 200
    late = consume_all(world)
    assert len(late) == 12 and all(o.startswith("already processed") for o in late)
    for sub in subs:
        assert (
            world.book.subscriptions.get(customer_id, sub).record.subscription.quantity
            == (quantity[sub])
        )
    mark = world.book.watermarks.find("partner_center_audit")
    assert mark is not None and datetime.fromisoformat(mark.position) <= pc.clock.now()


def world_body(event: dict[str, object]) -> bytes:
    return json.dumps(event).encode()


def test_an_audit_record_names_its_subscriptions():
    changed = {
        "id": "a1",
        "customerId": "t1",
        "resourceType": "Subscription",
        "operationType": "update_subscription",
        "operationDate": "2026-03-02T09:00:00Z",
        "resourceNewValue": '{"id": "s1", "quantity": 3}',
    }
    upgraded = {
        **changed,
        "resourceNewValue": '{"fromSubscriptionId": "s1", "toSubscriptionId": "s2"}',
    }
    ordered = {
        **changed,
        "resourceType": "Order",
        "resourceNewValue": '{"lineItems": [{"subscriptionId": "s3"}, {"subscriptionId": "s4"}]}',
    }
    agreement = {**changed, "resourceType": "Agreement"}
    assert [n.resource for n in audit_notices(changed)] == ["customers/t1/subscriptions/s1"]
    assert [n.resource.rsplit("/", 1)[1] for n in audit_notices(upgraded)] == ["s1", "s2"]
    assert [n.resource.rsplit("/", 1)[1] for n in audit_notices(ordered)] == ["s3", "s4"]
    assert audit_notices(agreement) == []
    assert audit_notices({**changed, "resourceNewValue": "not json"}) == []
    [notice] = audit_notices(changed)
    assert notice.audit_uri is not None and notice.audit_uri.endswith("/v1/auditrecords/a1")
    assert (
        notice.key
        == "subscription-updated|customers/t1/subscriptions/s1|2026-03-02T09:00:00.000000Z"
    )


# -- Stripe's events --------------------------------------------------------------------------


def failing_invoice(world: World, tag: str) -> str:
    payments = world.payments
    cus = payments.create_customer(f"{tag}:c", partner_customer_id="c", name="Contoso")
    payments.attach_payment_method(f"{tag}:pm", cus.id, "pm_card_chargeCustomerFail")
    inv = payments.create_invoice(f"{tag}:i", cus.id, currency="EUR")
    payments.add_invoice_item(
        f"{tag}:i", cus.id, invoice_id=inv.id, amount=700, currency="EUR", description="x"
    )
    payments.finalize_invoice(f"{tag}:i", inv.id)
    payments.pay_invoice(f"{tag}:p", inv.id)
    return inv.id


def test_the_events_poll_reads_after_the_last_event_seen_and_enqueues_what_intake_acts_on(
    world: World,
):
    enqueuer = Enqueuer(world.settings)
    first = failing_invoice(world, "a")
    report = poll_stripe_events(world.book, world.payments, enqueuer, datetime.now(UTC))
    queued = world.queued("stripe")
    assert {m.type for m in queued} == {"invoice.payment_failed", "payment_method.attached"}
    assert report.enqueued == len(queued) and report.found == len(queued)
    consume_all(world)

    second = failing_invoice(world, "b")
    again = poll_stripe_events(world.book, world.payments, enqueuer, datetime.now(UTC))
    failed = [m for m in world.queued("stripe") if m.type == "invoice.payment_failed"]
    assert [m.stripe["invoice"]["id"] for m in failed if m.stripe] == [second]  # type: ignore[call-overload,index]
    assert again.enqueued == len(world.queued("stripe"))
    consume_all(world)
    assert first != second
    # Nothing new: nothing enqueued; the watermark is the newest event.
    assert poll_stripe_events(world.book, world.payments, enqueuer, datetime.now(UTC)).found == 0
    newest = world.sdk.v1.events.list({"limit": 1}).data[0].id
    mark = world.book.watermarks.find("stripe_events")
    assert mark is not None and mark.position == newest


def test_a_webhook_after_the_events_poll_found_its_event_is_already_processed(world: World):
    invoice = failing_invoice(world, "c")
    poll_stripe_events(world.book, world.payments, Enqueuer(world.settings), datetime.now(UTC))
    consume_all(world)
    events = requests.get(
        f"{world.stripe_sandbox.base_url}/v1/events",
        params={"type": "invoice.payment_failed"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ).json()["data"]
    [event] = [e for e in events if e["data"]["object"]["id"] == invoice]
    assert world.post_stripe(json.dumps(event).encode()).status_code == 200
    assert consume_all(world)[0].startswith("already processed")


def test_a_watermark_stripe_no_longer_lists_starts_again_from_the_newest_page(world: World):
    failing_invoice(world, "d")
    world.book.watermarks.save(
        PollWatermark(poll="stripe_events", position="evt_gone", updated_at=datetime.now(UTC))
    )
    report = poll_stripe_events(
        world.book, world.payments, Enqueuer(world.settings), datetime.now(UTC)
    )
    assert report.enqueued > 0


# -- poison watch and the timers ----------------------------------------------------------------


def test_a_poison_queue_holding_messages_raises_one_alert_a_day(world: World):
    enqueuer = Enqueuer(world.settings)
    now = datetime.now(UTC)
    assert watch_poison_queues(world.book, enqueuer, now) == {"partner-center": 0, "stripe": 0}
    poison = world.queue("stripe", poison=True)
    poison._message_encode_policy = TextBase64EncodePolicy()
    poison.send_message('{"key": "evt_1"}')
    assert watch_poison_queues(world.book, enqueuer, now)["stripe"] == 1
    watch_poison_queues(world.book, enqueuer, now + timedelta(hours=1))
    alert = world.book.alerts.find(now, f"poison-queue:stripe:{now:%Y-%m-%d}")
    assert alert is not None and "redrive" in alert.summary
    assert len(world.book.alerts.of_days(now, now).items) == 1


def test_the_timers_are_registered_on_their_schedules():
    # every timer of the app, so a new one is seen here and in docs/intake.md's list
    schedules = {
        name: fn.get_trigger().schedule  # type: ignore[union-attr]
        for name, fn in functions_by_name().items()
        if fn.get_trigger() is not None and fn.get_trigger().get_binding_name() == "timerTrigger"  # type: ignore[union-attr]
    }
    assert schedules == {
        "book_sync_nightly": BOOK_SYNC_SCHEDULE,  # what time alone changes (docs/book.md#sync)
        # the lifecycle's own sweeps (docs/renewals.md, dunning.md, billing.md)
        "renewal_sweep": RENEWAL_SCHEDULE,
        "card_expiry_monthly": CARD_EXPIRY_SCHEDULE,
        "dunning_parked_starts": PARKED_DUNNING_SCHEDULE,  # kept starts (docs/dunning.md)
        "billing_run_timer": BILLING_SCHEDULE,
        "reconciliation_monthly": RECONCILIATION_SCHEDULE,
        "partner_center_audit_poll": HOURLY_AUDIT,
        "stripe_events_poll": HOURLY_STRIPE,
        "poison_queue_watch": HOURLY_POISON,
    }


def test_a_failing_poll_raises_an_ops_alert_and_fails(world: World, configure):
    configure(CSPFLOW_STRIPE_API_BASE="http://127.0.0.1:9")  # Stripe unreachable
    with pytest.raises(Exception):  # noqa: B017 - whatever the adapter raised
        user_function("stripe_events_poll")(None)
    now = datetime.now(UTC)
    alert = world.book.alerts.find(now, f"poll:stripe_events_poll:{now:%Y-%m-%dT%H}")
    assert alert is not None and alert.kind == "poll_failed"
