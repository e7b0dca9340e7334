"""Twenty onboardings on devhost's Durable engine with the app's real activities, the real
Partner Center, Stripe and mail sandboxes and a real Azurite, the host SIGKILLed at seeded
random moments and started again on the same engine database: every order finishes
provisioned, and each customer exists once in Partner Center and Stripe, was charged once,
owns its subscriptions once and got one welcome. Exactly once rests on the step keys
(Partner Center MS-RequestId, Stripe Idempotency-Key, the notice log): docs/architecture.md,
"Exactly once"; docs/onboarding.md."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devhost.app import load_app
from devhost.engine import DurableEngine
from shared.book import Book
from shared.config import get_settings, reset_settings
from shared.models import Money, Offer, PriceList
from shared.models.onboarding import PlaceOrder
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.harness import Harness
from tests.sandbox.stripe.harness import client as stripe_client
from triggers.orders import price_order

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 20
KILLS = 5
KILL_AFTER = (0.1, 1.2)  # seconds after the runner started its work
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0KDDK"


def offer(item: str, cycle: str, cost: int) -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": item,
            "country": "US",
            "name": f"Offer {item[:12]}",
            "term_duration": "P1Y",
            "billing_cycle": cycle,
            "unit_cost": Money(amount_minor=cost, currency="USD").model_dump(),
            "family": "m365-business",
            "rank": 1,
        }
    )


def seeded_book() -> Book:
    book = Book(get_settings())
    book.offers.save(offer(BASIC, "monthly", 600))
    book.offers.save(offer(STANDARD, "annual", 12000))
    book.price_lists.save(
        PriceList.model_validate(
            {"id": "standard", "currency": "USD", "default": {"kind": "markup", "rate": "0.20"}}
        )
    )
    return book


def orders(book: Book, pc: Harness, prefix: str) -> list[dict[str, Any]]:
    made = []
    for n in range(ORDERS):
        body = PlaceOrder.model_validate(
            {
                "order_id": f"{prefix}-{n}",
                "customer": {
                    "company_name": f"Fabrikam {n}",
                    "domain": f"{prefix}{n}.onmicrosoft.com",
                    "country": "US",
                    "address": {"address_line1": "1 Main St", "city": "Redmond",
                                "postal_code": "98052"},
                    "contacts": [{"name": "Ada Lovelace", "email": f"ada{n}@{prefix}.example"}],
                    "billing_currency": "USD",
                    "payment_method": "pm_card_visa",
                },
                "lines": [
                    {"catalog_item_id": BASIC, "term_duration": "P1Y", "billing_cycle": "monthly",
                     "quantity": 1 + n % 5},
                    {"catalog_item_id": STANDARD, "term_duration": "P1Y",
                     "billing_cycle": "annual", "quantity": 2},
                ],
            }
        )  # fmt: skip
        order = price_order(book, body, pc.clock.now(), lambda domain: None)
        made.append(order.model_dump(mode="json"))
    return made


def spawn(db: Path, inputs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.workflows.onboarding_runner", "--db", str(db),
         "--orders", str(inputs)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


@pytest.mark.parametrize("seed", [15])
def test_sigkilled_onboardings_all_finish_and_nothing_happens_twice(
    app_env: pytest.MonkeyPatch, pc: Harness, sandbox: Any, mail: Any, tmp_path: Path, seed: int
):
    app_env.setenv("CSPFLOW_TABLE_PREFIX", f"k{uuid.uuid4().hex[:16]}")
    reset_settings()
    prefix = "r" + uuid.uuid4().hex[:8]
    book = seeded_book()
    made = orders(book, pc, prefix)
    inputs = tmp_path / "orders.jsonl"
    inputs.write_text("\n".join(json.dumps(o) for o in made))
    db = tmp_path / "hub.db"
    rng = random.Random(seed)
    for _ in range(KILLS):
        proc = spawn(db, inputs)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "STARTED", (
            proc.stderr.read() if proc.stderr else ""
        )
        time.sleep(rng.uniform(*KILL_AFTER))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = DurableEngine(load_app(ROOT), db)
    unfinished = len(before.list_instances(statuses=["Running", "Pending"])[0])
    before.close()
    assert unfinished > 0, "the kills should have interrupted onboardings in flight"
    final = spawn(db, inputs)
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0 and "DONE" in out, err[-3000:]

    engine = DurableEngine(load_app(ROOT), db)
    bought: dict[str, list[str]] = {}
    try:
        for order in made:
            status = engine.get_status(f"order-{order['order_id']}")
            assert status is not None
            assert status.output["status"] == "provisioned", status.output
            bought[order["order_id"]] = status.output["partner_center_order_ids"]
    finally:
        engine.close()

    domains = Counter(c.domain for c in pc.client.list_customers())
    stripe = stripe_client(sandbox.base_url)
    stripe_customers = Counter(
        c.to_dict()["metadata"].get("cspflow_customer_id")
        for c in stripe.v1.customers.list({"limit": 100}).auto_paging_iter()
    )
    inbox = Inbox(mail.base_url)
    for n, order in enumerate(made):
        customer_id = order["customer_id"]
        assert domains[f"{customer_id}.onmicrosoft.com"] == 1
        assert stripe_customers[customer_id] == 1
        tenant = str(book.customers.get(customer_id).record.tenant_id)
        # one checkout (Partner Center may split it into an order per billing cycle)
        assert sorted(o.id for o in pc.client.list_orders(tenant)) == sorted(
            bought[order["order_id"]]
        )
        assert sorted(s.quantity for s in pc.client.list_subscriptions(tenant)) == sorted(
            [1 + n % 5, 2]
        )
        cus = book.customers.get(customer_id).record.stripe_customer_id
        assert cus is not None
        invoices = stripe.v1.invoices.list({"customer": cus}).data
        assert [i.status for i in invoices] == ["paid"]
        assert invoices[0].amount_paid == sum(p["first_charge"]["amount_minor"]
                                              for p in order["lines"])  # fmt: skip
        held = book.subscriptions.of_customer(customer_id).items
        assert len(held) == 2
        welcomes = inbox.messages(to=f"ada{n}@{prefix}.example", distinct="true")
        assert len(welcomes) == 1
