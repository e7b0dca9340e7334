"""A message that keeps failing goes to the poison queue after maxDequeueCount, with an ops
alert; re-driven once its cause is fixed, it is processed once (and a late copy of the same
event after that is acknowledged as already processed). On devhost, against the sandboxes
and Azurite."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from azure.storage.queue import TextBase64EncodePolicy

from tests.devhost.host_process import app_copy, running_host
from tests.triggers.intake_world import World, book_customer, call_route
from tests.triggers.queues.test_sigkill import APP

pytestmark = pytest.mark.slow

CHANGED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def wait_until(check, timeout_s: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_poison_message_redriven_after_its_cause_is_fixed_is_processed_once(
    world: World, app_values: dict[str, str], tmp_path: Path
):
    tenant = world.pc.customer()
    sub = world.pc.buy(tenant, quantity=7)
    customer_id = book_customer(world, tenant=tenant)
    body = world.pc_body("subscription-updated", f"customers/{tenant}/subscriptions/{sub}", CHANGED)
    env = {
        **app_values,
        "CSPFLOW_TABLE_PREFIX": world.settings.table_prefix,
        "TASKHUB_NAME": "poison",
        "INTAKE_KILL_LOG": str(tmp_path / "kills.log"),
    }
    app = app_copy(APP, tmp_path / "app")
    world.pc.faults(fail_next=10_000, fail_status=503)  # Partner Center is down
    with running_host(app, "--state-dir", str(tmp_path / "state"), env=env) as host:
        webhook = host.url + "/api/webhooks/partner-center"
        assert requests.post(webhook, data=body, headers=world.pc_headers(body), timeout=30).ok
        wait_until(lambda: world.queued("partner_center", poison=True), what="never poisoned")
        [poisoned] = world.queued("partner_center", poison=True)
        assert world.queued("partner_center") == []
        assert world.book.processed_events.seen("partner_center", poisoned.key) is None
        alert = world.book.alerts.find(
            datetime.now(UTC), f"poison:cspflow-events-partner-center:{poisoned.key}"
        )
        assert alert is not None and "failed 5 times" in alert.summary

        world.pc.faults(fail_next=0)  # the cause is fixed
        redrive = host.url + "/api/ops/poison/partner-center/redrive"
        answer = requests.post(redrive, timeout=30)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert [r["key"] for r in report["redriven"]] == [poisoned.key]
        assert report["poison_queue"] == "cspflow-events-partner-center-poison"
        wait_until(
            lambda: world.book.processed_events.seen("partner_center", poisoned.key),
            what="the re-driven event was not processed",
        )
        # A second redrive finds nothing; a late copy of the event is already processed.
        assert requests.post(redrive, timeout=30).json()["redriven"] == []
        assert requests.post(webhook, data=body, headers=world.pc_headers(body), timeout=30).ok
        wait_until(lambda: world.queued("partner_center") == [], what="the copy stayed queued")
        time.sleep(0.5)

    stored = world.book.subscriptions.get(customer_id, sub)
    assert stored.version == 1 and stored.record.subscription.quantity == 7
    processed = world.book.processed_events.seen("partner_center", poisoned.key)
    assert processed is not None and "added to the book" in (processed.outcome or "")
    assert world.queued("partner_center", poison=True) == []
    assert [e.id for e in world.book.timeline.page(customer_id).items] == [
        f"partner_center:subscription:{sub}:v0"
    ]


def test_redrive_names_an_unknown_queue_404_and_an_empty_poison_queue_redrives_nothing(
    world: World,
):
    missing = call_route("redrive_poison", "ops/poison/orders/redrive", {"queue": "orders"})
    assert missing.status_code == 404
    empty = call_route("redrive_poison", "ops/poison/stripe/redrive", {"queue": "stripe"})
    assert empty.status_code == 200
    assert empty.get_body() and b'"redriven":[]' in empty.get_body()


def test_redrive_moves_every_poison_message_back_once_each_even_one_that_is_no_event(
    world: World,
):
    poison = world.queue("stripe", poison=True)
    poison._message_encode_policy = TextBase64EncodePolicy()  # as the host writes them
    for text in ('{"key": "evt_1", "type": "invoice.paid"}', '{"key": "evt_2"}', "garbage"):
        poison.send_message(text)
    world.queue("stripe", poison=True).send_message("not base64 at all!")  # moved as it is
    answer = call_route("redrive_poison", "ops/poison/stripe/redrive", {"queue": "stripe"})
    assert answer.status_code == 200
    report = json.loads(answer.get_body())
    assert [(r["key"], r["type"]) for r in report["redriven"]] == [
        ("evt_1", "invoice.paid"),
        ("evt_2", None),
        (None, None),
        (None, None),
    ]
    assert world.queued("stripe", poison=True) == []
    back = [m.content for m in world.queue("stripe").peek_messages(max_messages=32)]
    assert [base64.b64decode(c).decode() for c in back[:3]] == [
        '{"key": "evt_1", "type": "invoice.paid"}',
        '{"key": "evt_2"}',
        "garbage",
    ]
    assert back[3] == "not base64 at all!"
