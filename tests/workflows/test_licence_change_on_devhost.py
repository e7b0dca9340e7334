"""Licence changes on devhost (the real Durable engine, SQLite state that survives a restart)
with the real activities, the Partner Center and Stripe sandboxes and Azurite: the host is
SIGKILLed in the middle of a seat increase (the charge made, the PATCH accepted and not yet
answered) and started again on the same state; the seats change once and the customer is
charged once (docs/licence-changes.md, "Every write's key derives from the change's
instance and the step"). Partner Center throttling and 5xx storms and a lost PATCH answer
on the way change nothing either."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from shared.book import Book
from shared.config import Settings
from shared.models import Money, SubscriptionRecord
from shared.payments import StripePayments
from tests.devhost.host_process import ROOT, HostProcess, start_host
from tests.sandbox.partner_center.harness import Harness
from tests.sandbox.stripe.harness import client as stripe_client
from tests.shared.book.records import customer as book_customer

pytestmark = pytest.mark.slow

KEY = "function-key-for-licence-change-tests"
PRICE = Money(amount_minor=3000, currency="USD")


@pytest.fixture
def world(
    app_values: dict[str, str], pc: Harness, sandbox: Any, azurite: Azurite, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    prefix = f"t{uuid.uuid4().hex[:16]}"
    values = {**app_values, "CSPFLOW_TABLE_PREFIX": prefix, "CSPFLOW_BOOK_SYNC_SCHEDULE": "off"}
    env = {**values, "TASKHUB_NAME": "licencechange", "DEVHOST_FUNCTION_KEY": KEY}
    settings = Settings.model_validate(
        {
            k.removeprefix("CSPFLOW_").lower(): v
            for k, v in values.items()
            if k.startswith("CSPFLOW_")
        }
        | {"AzureWebJobsStorage": azurite.connection_string}
    )
    book = Book(settings)
    tenant = pc.customer()
    sid = pc.buy(tenant, quantity=5)
    stripe = StripePayments.from_settings(settings)
    cus = stripe.create_customer("setup/cus", partner_customer_id="c-1", name="Contoso")
    assert stripe.attach_payment_method("setup/card", cus.id, "pm_card_visa").ok
    book.customers.add(
        book_customer("c-1", tenant_id=tenant, stripe_customer_id=cus.id, billing_currency="USD")
    )
    book.subscriptions.add(
        SubscriptionRecord(
            customer_id="c-1",
            subscription=pc.client.get_subscription(tenant, sid),
            unit_price=PRICE,
        )
    )
    state = tmp_path / "host"
    yield {"env": env, "state": state, "book": book, "tenant": tenant, "sid": sid, "cus": cus.id}


def start(world: dict[str, Any], *args: str) -> HostProcess:
    host = start_host(
        ROOT, "--enable-auth", "--state-dir", str(world["state"]), *args, env=world["env"]
    )
    assert host.url, host.log()
    return host


def ask(host: HostProcess, world: dict[str, Any], change_id: str, **body: Any) -> None:
    answer = requests.post(
        f"{host.url}/api/customers/c-1/subscriptions/{world['sid']}/changes",
        headers={"x-functions-key": KEY},
        json={"change_id": change_id, "requested_by": "ada@contoso.example", **body},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


def final(host: HostProcess, change_id: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(
            f"{host.url}/api/changes/{change_id}", headers={"x-functions-key": KEY}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] in ("applied", "scheduled_for_next_term", "rejected", "failed"):
            return body
        assert time.monotonic() < deadline, f"{body}\n{host.log()[-4000:]}"
        time.sleep(0.2)


def charges(sandbox: Any, cus: str, change_id: str) -> list[dict[str, Any]]:
    page = stripe_client(sandbox.base_url).v1.invoices.list({"customer": cus, "limit": 100})
    return [i.to_dict() for i in page.data if i.to_dict()["metadata"].get("change_id") == change_id]


def seat_charges(pc: Harness, sid: str) -> list[int]:
    return [
        c["quantity"]
        for c in pc.state()["ledger"]
        if c["subscriptionId"] == sid and c["chargeType"] == "addQuantity"
    ]


def test_a_host_killed_mid_change_changes_the_seats_once_and_charges_once(
    world: dict[str, Any], pc: Harness, sandbox: Any
):
    # The PATCH is accepted with 202 and applied 4 s later: the host dies while it waits.
    pc.faults(slow_patch_ms=4000)
    host = start(world)
    try:
        ask(host, world, "chg-kill", kind="quantity", quantity=8)
        deadline = time.monotonic() + 120
        while not any(i["status"] == "paid" for i in charges(sandbox, world["cus"], "chg-kill")):
            assert time.monotonic() < deadline, host.log()[-4000:]
            time.sleep(0.05)
        time.sleep(0.5)  # the PATCH is on its way
    finally:
        host.kill()
    pc.faults(slow_patch_ms=0)
    host = start(world)
    try:
        done = final(host, "chg-kill")
    finally:
        host.stop()
    assert done["status"] == "applied", done
    assert pc.client.get_subscription(world["tenant"], world["sid"]).quantity == 8
    assert seat_charges(pc, world["sid"]) == [3]
    paid = charges(sandbox, world["cus"], "chg-kill")
    assert [(i["status"], i["amount_paid"]) for i in paid] == [
        ("paid", done["charge"]["amount_minor"])
    ]


def test_throttling_5xx_and_a_lost_patch_answer_change_the_seats_once(
    world: dict[str, Any], pc: Harness, sandbox: Any
):
    # https://learn.microsoft.com/en-us/partner-center/developer/api-throttling-guidance
    # On a virtual clock: the lost answer's retry waits the "patient" policy's 5 minutes.
    host = start(world, "--virtual-clock")
    try:
        pc.faults(throttle_rate=0.3, fail_5xx_rate=0.2, retry_after_ms=200, lose_next=1)
        ask(host, world, "chg-storm", kind="quantity", quantity=7)
        done = final(host, "chg-storm")
    finally:
        pc.faults(throttle_rate=0, fail_5xx_rate=0, lose_next=0)
        host.stop()
    assert done["status"] == "applied", done
    assert pc.client.get_subscription(world["tenant"], world["sid"]).quantity == 7
    assert seat_charges(pc, world["sid"]) == [2]
    assert len(charges(sandbox, world["cus"], "chg-storm")) == 1
