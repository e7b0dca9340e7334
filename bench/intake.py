"""Event intake under sustained load: signed webhooks against a bare HTTP function.

devhost serves bench/intake_app (cspflow's webhook routes and queue consumers, as the product
registers them, plus `bare`, an HTTP function that only answers 200) against Azurite, the
Partner Center sandbox and the Stripe sandbox, all on this machine. CLIENTS threads post the
deliveries: signed Stripe events (`invoice.payment_failed` of real open invoices,
`payment_method.attached`) and signed Partner Center events (`subscription-updated` of real
subscriptions, `invoice-ready`), every event unique but DUPLICATES of them sent twice, in
shuffled order. After each webhook the same thread posts the same body to `bare`, so the
two are measured under the same load, in the same run, on the same host; the consumers act
on the queued events meanwhile, as they would in production.

Measured:
- deliveries per second over the load, and p50 / p99 of the time to the 2xx answer for the
  webhooks (each source, and all) and for `bare`. Goal: the webhooks' p99 at most
  GOAL_RATIO times bare's;
- the time from a webhook's first 2xx to its effect (the event's row in the book's `Events`,
  written after the act: docs/intake.md), p50 / p99;
- exactly once: every accepted event has its `Events` row, there is no other, the queues and
  their poison queues are empty, and the book holds one kept workflow start per event that
  should start one (the benchmark's app deploys no workflow). Goal: all.

`run()` prints the table and writes bench/out/intake.json: rows {"measure", "value", "goal"}.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import stripe
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from bench.table import print_table
from devhost.azurite import start_azurite
from devhost.sandbox_wiring import StripeCredentials, partner_center_settings, stripe_settings
from sandbox.partner_center.delivery import sign as sign_partner_center
from shared.book import Book
from shared.clock import ManualClock
from shared.config import Settings
from shared.models import Customer
from shared.models.intake import partner_center_key
from shared.payments import StripePayments
from shared.storage import EVENT_QUEUES, poison_queue
from tests.devhost.host_process import app_copy, start_host
from tests.sandbox.partner_center.harness import Harness, key_template, start_harness
from tests.sandbox.stripe.harness import API_KEY, T0, WEBHOOK_SECRET, running_sandbox

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = Path(__file__).parent / "intake_app"
OUT = Path(__file__).parent / "out" / "intake.json"
DELIVERIES = 2_000
CLIENTS = 8
DUPLICATES = 0.1
GOAL_RATIO = 3.0
PC_PUBLIC = "https://api.partnercenter.microsoft.com"

Row = dict[str, object]


@dataclass(frozen=True)
class Delivery:
    source: str  # "stripe" or "pc"
    key: str  # the business key the receiver answers with
    body: bytes
    expects: str | None = None  # the workflow start it should leave kept, if any


@dataclass
class Timings:
    webhook: dict[str, list[float]] = field(default_factory=lambda: {"stripe": [], "pc": []})
    bare: list[float] = field(default_factory=list)
    first_2xx: dict[str, datetime] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run(
    deliveries: int = DELIVERIES,
    clients: int = CLIENTS,
    out: Path = OUT,
    seed: int = 2026,
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp_name:
        tmp = Path(tmp_name)
        azurite = start_azurite(ROOT, tmp / "azurite")
        pc = start_harness(key_template(tmp / "pc-keys"), tmp / "pc")
        try:
            (tmp / "stripe").mkdir()
            with running_sandbox(tmp / "stripe", ManualClock(T0)) as stripe_sandbox:
                values = {
                    **partner_center_settings(pc.sandbox.config.data_dir),
                    **stripe_settings(
                        stripe_sandbox.base_url, StripeCredentials(API_KEY, WEBHOOK_SECRET)
                    ),
                    "AzureWebJobsStorage": azurite.connection_string,
                    "CSPFLOW_TABLE_PREFIX": "bench",
                    "TASKHUB_NAME": "intakebench",
                }
                settings = Settings.model_validate(  # the book the app writes, as it sees it
                    {"AzureWebJobsStorage": azurite.connection_string, "table_prefix": "bench"}
                )
                rows = measure(
                    pc, stripe_sandbox.base_url, settings, values, tmp, deliveries, clients, seed
                )
        finally:
            pc.sandbox.stop()
            azurite.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"Event intake: {deliveries:,} signed webhooks, {clients} clients, against a bare function"
    )
    print_table(rows)
    print("goals met" if goals_met(rows) else "goal NOT met (a loaded machine? run it again)")
    return rows


def goals_met(rows: Sequence[Row]) -> bool:
    for row in rows:
        goal = str(row["goal"])
        if goal.startswith("<= ") and float(str(row["value"])) > float(goal[3:]):
            return False
        if goal == "all" and row["value"] != "all":
            return False
    return True


# -- the world and its events ------------------------------------------------------------------


def arrange(pc: Harness, stripe_base: str, book: Book) -> dict[str, Any]:
    """Partner Center customers with subscriptions and Stripe customers with open invoices,
    all in the book."""
    subs = []
    for n in range(3):
        tenant = pc.customer()
        book.customers.add(_customer(f"pc-{n}", tenant_id=tenant))
        subs += [(tenant, pc.buy(tenant, quantity=2 + m)) for m in range(3)]
    payments = StripePayments(API_KEY, stripe_base)
    invoices, cards = [], []
    for n in range(3):
        cus = payments.create_customer(f"b:{n}", partner_customer_id=f"s-{n}", name=f"S{n}")
        book.customers.add(_customer(f"s-{n}", stripe_customer_id=cus.id))
        attached = payments.attach_payment_method(f"b:{n}:pm", cus.id, "pm_card_chargeCustomerFail")
        assert attached.card is not None
        cards.append((cus.id, attached.card.payment_method_id))
        for i in range(3):
            key = f"b:{n}:{i}"
            inv = payments.create_invoice(key, cus.id, currency="EUR")
            payments.add_invoice_item(
                key, cus.id, invoice_id=inv.id, amount=500, currency="EUR", description="x"
            )
            payments.finalize_invoice(key, inv.id)
            payments.pay_invoice(f"{key}:p", inv.id)
            invoices.append(_raw(stripe_base, f"/v1/invoices/{inv.id}"))
    return {
        "subs": subs,
        "invoices": invoices,
        "cards": [_raw(stripe_base, f"/v1/payment_methods/{pm}") for _, pm in cards],
    }


def _customer(customer_id: str, **extra: Any) -> Customer:
    return Customer.model_validate(
        {
            "id": customer_id,
            "partner_id": "p-1",
            "company_name": f"Bench {customer_id}",
            "domain": f"{customer_id}.onmicrosoft.com",
            "contacts": [{"name": "Ada", "email": "ada@bench.example"}],
            "billing_currency": "EUR",
            **extra,
        }
    )


def _raw(base: str, path: str) -> dict[str, Any]:
    answer = requests.get(base + path, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def events(world: dict[str, Any], unique: int, rng: random.Random) -> list[Delivery]:
    """`unique` events, half Stripe's, half Partner Center's, each with its business key."""
    made: list[Delivery] = []
    when = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
    for n in range(unique):
        if n % 2 == 0:
            if n % 4 == 0:
                invoice = world["invoices"][n % len(world["invoices"])]
                kind, obj = "invoice.payment_failed", invoice
                expects = f"dunning|dunning-{invoice['id']}"
            else:
                kind, obj = "payment_method.attached", world["cards"][n % len(world["cards"])]
                expects = None
            event_id = f"evt_bench{n:07d}"
            body = {
                "id": event_id,
                "object": "event",
                "type": kind,
                "created": 1_767_600_000 + n,
                "livemode": False,
                "data": {"object": obj},
            }
            made.append(Delivery("stripe", event_id, json.dumps(body).encode(), expects))
        else:
            at = datetime.fromtimestamp(when + n, UTC)
            if n % 4 == 1:
                resource = f"invoices/GB{n:08d}"
                name, expects = "invoice-ready", f"reconciliation|reconciliation-GB{n:08d}"
            else:
                tenant, sub = world["subs"][n % len(world["subs"])]
                resource = f"customers/{tenant}/subscriptions/{sub}"
                name, expects = "subscription-updated", None
            stamp = at.isoformat().replace("+00:00", "Z")
            body = {
                "EventName": name,
                "ResourceUri": f"{PC_PUBLIC}/webhooks/v1/{resource}",
                "ResourceName": resource.split("/")[-2],
                "AuditUri": None,
                "ResourceChangeUtcDate": stamp,
            }
            key = partner_center_key(name, resource, at)
            made.append(Delivery("pc", key, json.dumps(body).encode(), expects))
    rng.shuffle(made)
    return made


# -- the load ---------------------------------------------------------------------------------


def measure(
    pc: Harness,
    stripe_base: str,
    settings: Settings,
    values: dict[str, str],
    tmp: Path,
    deliveries: int,
    clients: int,
    seed: int,
) -> list[Row]:
    rng = random.Random(seed)
    book = Book(settings)
    world = arrange(pc, stripe_base, book)
    unique = round(deliveries / (1 + DUPLICATES))
    planned = events(world, unique, rng)
    sent = planned + rng.sample(planned, deliveries - unique)
    rng.shuffle(sent)
    signer = pc.sandbox.keys.signing_key
    cert_url = pc.sandbox.certificate_url
    signed = {
        d.key: f"Signature {sign_partner_center(signer, d.body)}"
        for d in planned
        if d.source == "pc"
    }

    app = app_copy(APP_DIR, tmp / "app")
    host = start_host(app, "--state-dir", str(tmp / "devhost"), env=values)
    timings = Timings()
    try:
        webhook = {
            "stripe": f"{host.url}/api/webhooks/stripe",
            "pc": f"{host.url}/api/webhooks/partner-center",
        }
        bare = f"{host.url}/api/bare"
        for _ in range(20):  # warm up both paths (first imports, the certificate download)
            d = planned[_ % len(planned)]
            requests.post(bare, data=d.body, timeout=30)
        shares = [sent[i::clients] for i in range(clients)]

        def client(share: list[Delivery]) -> None:
            session = requests.Session()
            for d in share:
                if d.source == "stripe":
                    headers = {
                        "Content-Type": "application/json",
                        "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
                            d.body.decode(), WEBHOOK_SECRET, timestamp=int(time.time())
                        ),
                    }
                else:
                    headers = {
                        "Content-Type": "application/json",
                        "Authorization": signed[d.key],
                        "x-ms-certificate-url": cert_url,
                        "x-ms-signature-algorithm": "rsa-sha256",
                    }
                started = time.perf_counter()
                answer = session.post(webhook[d.source], data=d.body, headers=headers, timeout=60)
                took = time.perf_counter() - started
                at = datetime.now(UTC)
                ok = 200 <= answer.status_code < 300 and answer.json().get("key") == d.key
                started = time.perf_counter()
                floor = session.post(bare, data=d.body, headers=headers, timeout=60)
                bare_took = time.perf_counter() - started
                with timings.lock:
                    if not ok or floor.status_code != 200:
                        timings.failures.append(
                            f"{d.source} {answer.status_code} {answer.text[:200]}"
                        )
                        continue
                    timings.webhook[d.source].append(took)
                    timings.bare.append(bare_took)
                    timings.first_2xx.setdefault(d.key, at)

        began = time.perf_counter()
        threads = [threading.Thread(target=client, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load_s = time.perf_counter() - began
        assert not timings.failures, timings.failures[:5]

        keys = {d.key: d for d in planned}
        processed = wait_processed(book, keys, timeout_s=120 + deliveries / 10)
    finally:
        host.stop()
    return rows_of(book, settings, keys, sent, timings, processed, load_s, deliveries)


def wait_processed(book: Book, keys: dict[str, Delivery], timeout_s: float) -> dict[str, datetime]:
    """Each event's processed_at, once every one has its `Events` row (or the time is up)."""
    left = dict(keys)
    found: dict[str, datetime] = {}
    deadline = time.monotonic() + timeout_s
    while left and time.monotonic() < deadline:
        for key, d in list(left.items()):
            seen = book.processed_events.seen(
                "stripe" if d.source == "stripe" else "partner_center", key
            )
            if seen is not None:
                found[key] = seen.processed_at
                del left[key]
        if left:
            time.sleep(0.5)
    return found


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def rows_of(
    book: Book,
    settings: Settings,
    keys: dict[str, Delivery],
    sent: list[Delivery],
    timings: Timings,
    processed: dict[str, datetime],
    load_s: float,
    deliveries: int,
) -> list[Row]:
    every = timings.webhook["stripe"] + timings.webhook["pc"]
    ratio = _ms(every, 0.99) / max(_ms(timings.bare, 0.99), 0.001)
    effect = [
        (processed[k] - timings.first_2xx[k]).total_seconds()
        for k in processed
        if k in timings.first_2xx
    ]
    rows_in_events = sum(1 for _ in book.processed_events.table.scan("", {}, "events"))
    queues_empty = all(_empty(settings, q) for q in EVENT_QUEUES.values())
    expected_kept = {d.expects: None for d in keys.values() if d.expects}
    kept = [
        row
        for workflow in ("dunning", "reconciliation")
        for row in book.workflow_inbox.of_workflow(workflow, limit=1000).items
    ]
    kept_starts = {f"{k.workflow}|{k.instance_id}" for k in kept if k.action == "start"}
    # A start is kept once per event: several failed payments of one invoice are several
    # rows of the same instance, one each.
    per_event = len({k.event_key for k in kept if k.action == "start"}) == len(
        [k for k in kept if k.action == "start"]
    )
    starts_expected = sum(1 for d in keys.values() if d.expects)
    exactly_once = (
        len(processed) == len(keys) == rows_in_events
        and queues_empty
        and kept_starts == set(expected_kept)
        and per_event
        and len([k for k in kept if k.action == "start"]) == starts_expected
    )
    return [
        {
            "measure": "deliveries (unique events + duplicates)",
            "value": f"{deliveries} ({len(keys)} + {deliveries - len(keys)})",
            "goal": "",
        },
        {
            "measure": "webhook deliveries per second (sustained, with bare interleaved)",
            "value": round(deliveries / load_s, 1),
            "goal": "",
        },
        {
            "measure": "time to 2xx, Stripe webhook p50 / p99 (ms)",
            "value": f"{_ms(timings.webhook['stripe'], 0.5)} / {_ms(timings.webhook['stripe'], 0.99)}",
            "goal": "",
        },
        {
            "measure": "time to 2xx, Partner Center webhook p50 / p99 (ms)",
            "value": f"{_ms(timings.webhook['pc'], 0.5)} / {_ms(timings.webhook['pc'], 0.99)}",
            "goal": "",
        },
        {
            "measure": "time to 2xx, all webhooks p50 / p99 (ms)",
            "value": f"{_ms(every, 0.5)} / {_ms(every, 0.99)}",
            "goal": "",
        },
        {
            "measure": "time to 2xx, bare function p50 / p99 (ms)",
            "value": f"{_ms(timings.bare, 0.5)} / {_ms(timings.bare, 0.99)}",
            "goal": "",
        },
        {
            "measure": "webhooks p99 / bare p99",
            "value": round(ratio, 2),
            "goal": f"<= {GOAL_RATIO:g}",
        },
        {
            "measure": "2xx to effect (Events row) p50 / p99 (s)",
            "value": f"{round(statistics.median(effect), 2)} / {round(sorted(effect)[int(0.99 * (len(effect) - 1))], 2)}"
            if effect
            else "none",
            "goal": "",
        },
        {
            "measure": "accepted events acted on exactly once",
            "value": "all"
            if exactly_once
            else f"{len(processed)} of {len(keys)} processed, {rows_in_events} rows, queues empty: {queues_empty}",
            "goal": "all",
        },
    ]


def _empty(settings: Settings, queue: str) -> bool:
    for name in (queue, poison_queue(queue)):
        client = QueueClient.from_connection_string(
            settings.storage_connection.get_secret_value(), name
        )
        try:
            if client.peek_messages(max_messages=1):
                return False
        except ResourceNotFoundError:
            continue
    return True
