"""The host SIGKILLed while consuming: no event lost, none acted on twice.

devhost (a separate process) serves the product's webhook routes and consumers
(intake_app/) against the sandboxes and Azurite. Every delivery is posted over HTTP while
the consumers are disabled; then the host is started again and again, each run killing
itself (SIGKILL, no cleanup) at the next point of the plan: right after a consumer acted and
before it recorded the event, right after it recorded and before the message was deleted,
and once more after acting. Sixteen messages are in flight at each kill; their leases run
out and they come back. Then every effect is counted: one processed-event row per event,
one orchestration per invoice (never replaced), one kept start per failed payment, one
book write and one timeline entry per subscription, empty queues."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.models.intake import partner_center_key
from tests.devhost.host_process import HostProcess, app_copy, start_host
from tests.triggers.intake_world import World, book_customer
from tests.triggers.queues.test_thousand_deliveries import stripe_events
from triggers.queues.routing import DUNNING

pytestmark = pytest.mark.slow

APP = Path(__file__).parent / "intake_app"
KILLS = ("acted", "recorded", "acted")
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DURABLE = "/runtime/webhooks/durabletask"


def host_env(
    world: World, app_values: dict[str, str], kill_log: Path, **extra: str
) -> dict[str, str]:
    return {
        **app_values,
        "CSPFLOW_TABLE_PREFIX": world.settings.table_prefix,
        "TASKHUB_NAME": "sigkill",
        "DEVHOST_QUEUE_LEASE_SECONDS": "2",
        "INTAKE_KILLS": ",".join(KILLS),
        "INTAKE_KILL_LOG": str(kill_log),
        **extra,
    }


def test_a_host_killed_while_consuming_loses_no_event_and_acts_on_none_twice(
    world: World, app_values: dict[str, str], tmp_path: Path
):
    rng = random.Random(7)
    # -- the world: subscriptions in Partner Center, failed payments in Stripe -----------
    subs = []
    for n in range(2):
        tenant = world.pc.customer()
        customer_id = book_customer(world, tenant=tenant, customer_id=f"k-{n}")
        subs += [(tenant, world.pc.buy(tenant, quantity=3 + m), customer_id) for m in range(5)]
    payments = world.payments
    cus = payments.create_customer("x:c", partner_customer_id="x", name="Killed Ltd")
    book_customer(world, stripe_customer=cus.id)
    payments.attach_payment_method("x:pm", cus.id, "pm_card_chargeCustomerFail")
    for i in range(8):
        inv = payments.create_invoice(f"x:{i}", cus.id, currency="EUR")
        payments.add_invoice_item(
            f"x:{i}", cus.id, invoice_id=inv.id, amount=100, currency="EUR", description="x"
        )
        payments.finalize_invoice(f"x:{i}", inv.id)
        payments.pay_invoice(f"x:{i}:p", inv.id)

    pc_events = [
        (
            "subscription-updated",
            f"customers/{tenant}/subscriptions/{sub}",
            T + timedelta(minutes=k),
        )
        for tenant, sub, _ in subs
        for k in range(3)
    ] + [("invoice-ready", f"invoices/G{i:09d}", T) for i in range(30)]
    stripe_all = stripe_events(world)
    unique: list[tuple[str, bytes]] = [("pc", world.pc_body(*e)) for e in pc_events] + [
        ("stripe", json.dumps(e).encode()) for e in stripe_all
    ]
    sent = unique + rng.sample(unique, round(len(unique) * 0.3))
    rng.shuffle(sent)
    keys = [partner_center_key(n, f"/v1/{r}", at) for n, r, at in pc_events]
    stripe_keys = [e["id"] for e in stripe_all]
    failed = [e for e in stripe_all if e["type"] == "invoice.payment_failed"]
    assert failed

    app = app_copy(APP, tmp_path / "app")
    state = tmp_path / "state"
    kill_log = tmp_path / "kills.log"
    env = host_env(world, app_values, kill_log)

    # -- every delivery received while the consumers are off --------------------------
    receiving = {
        **env,
        "AzureWebJobs.partner_center_events.Disabled": "true",
        "AzureWebJobs.stripe_events.Disabled": "true",
    }
    host = start_host(app, "--state-dir", str(state), env=receiving)
    try:
        for source, body in sent:
            if source == "pc":
                url, headers = "/api/webhooks/partner-center", world.pc_headers(body)
            else:
                url, headers = "/api/webhooks/stripe", world.stripe_headers(body)
            answer = requests.post(host.url + url, data=body, headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text
    finally:
        host.stop()
    assert len(world.queued("partner_center")) + len(world.queued("stripe")) > 0

    # -- consumed by hosts that kill themselves ------------------------------------------
    def all_processed() -> bool:
        book = world.book
        return all(book.processed_events.seen("partner_center", k) for k in keys) and all(
            book.processed_events.seen("stripe", k) for k in stripe_keys
        )

    runs = 0
    host = start_host(app, "--state-dir", str(state), env=env)
    deadline = time.monotonic() + 240
    try:
        while not all_processed():
            assert time.monotonic() < deadline, f"not all processed; kills: {_kills(kill_log)}"
            if host.process.poll() is not None:  # killed itself: start the next run
                runs += 1
                assert runs <= len(KILLS), host.log()
                host = start_host(app, "--state-dir", str(state), env=env)
            time.sleep(0.3)
        instances = _instances(host)
        histories = {i: _history(host, i) for i in instances}
    finally:
        if host.process.poll() is None:
            host.stop()

    # -- the kills happened where planned ------------------------------------------------
    assert [line.split(" ")[0] for line in _kills(kill_log)] == list(KILLS)
    assert runs == len(KILLS)

    # -- no event lost, none acted on twice -------------------------------------------------
    book = world.book
    for k in keys:
        assert book.processed_events.seen("partner_center", k) is not None, k
    expected = {f"reconciliation-G{i:09d}" for i in range(30)}
    assert set(instances) == expected
    for instance_id, history in histories.items():
        started = [e for e in history if e["EventType"] == "ExecutionStarted"]
        assert len(started) == 1, (instance_id, history)
        given = started[0]["Input"]
        given = json.loads(given) if isinstance(given, str) else given
        assert given["event_key"].startswith("invoice-ready|invoices/")
    kept = book.workflow_inbox.of_workflow(DUNNING, limit=1000).items
    assert sorted(k.event_key for k in kept) == sorted(e["id"] for e in failed)
    for _tenant, sub, customer_id in subs:
        stored = book.subscriptions.get(customer_id, sub)
        assert stored.version == 1, sub
        timeline = [e.id for e in book.timeline.page(customer_id, limit=1000).items if sub in e.id]
        assert timeline == [f"partner_center:subscription:{sub}:v0"]
    failed_notes = [
        e
        for e in book.timeline.page(_stripe_customer(world, cus.id), limit=1000).items
        if "failed" in e.summary
    ]
    assert len(failed_notes) == len(failed)
    for source in ("partner_center", "stripe"):
        assert world.queued(source) == [] and world.queued(source, poison=True) == []


def _kills(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _instances(host: HostProcess) -> list[str]:
    answer = requests.get(f"{host.url}{DURABLE}/instances", timeout=30)
    answer.raise_for_status()
    return [i["instanceId"] for i in answer.json()]


def _history(host: HostProcess, instance_id: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{host.url}{DURABLE}/instances/{instance_id}",
        params={"showHistory": "true", "showHistoryOutput": "true", "showInput": "true"},
        timeout=30,
    )
    answer.raise_for_status()
    history: list[dict[str, Any]] = answer.json()["historyEvents"]
    return history


def _stripe_customer(world: World, stripe_id: str) -> str:
    found = world.book.customers.by_stripe_customer(stripe_id)
    assert found is not None
    return found.record.id
