"""The billing run against the same Stripe calls made bare: is it bound by Stripe?

The whole local stack (tests/e2e/harness.py: Azurite, the sandboxes, devhost serving
function_app.py on its virtual clock; times are wall times) with a book of N customers
written straight into Azurite (each with a card in the Stripe sandbox, 21 % VAT, one or two
subscriptions billed in the period; the catalogue's cost and the standard price list), and
the Stripe sandbox holding every API request `LATENCY_MS` before answering (Stripe answers
in a few hundred milliseconds, the sandbox in a few; 150 ms is a low figure).

Measured in one run, in this order:
1. bare: the Stripe calls one customer's invoice makes (the tax rate looked up, the invoice
   looked for, created, its lines listed and added, finalized, paid), made with the app's
   own client (`StripePayments`) for every customer, `CSPFLOW_BILLING_IN_FLIGHT` (10) at a
   time: what the run cannot do faster;
2. the billing run, `POST /api/ops/billing-runs` to its report over HTTP: the same calls
   plus everything cspflow does (the Durable run, a sub-orchestration per customer, the
   book's reads and writes in Azurite). Checked: every customer issued once;
3. the reconciliation's matcher over the run's lines (in process, from the invoices the run
   recorded in the book and the same lines as Microsoft would bill them): lines per second.
Goal: the run's wall time at most 1.5x its bare calls' (the host's part at most half the
external calls' part). Invoices per second are reported.

`run()` prints the table and writes bench/out/billing.json: rows {"measure", "value",
"goal", "note"}.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from stripe import StripeClient

from bench.table import print_table
from shared.book import Book
from shared.config import Settings
from shared.models import (
    Contact,
    Customer,
    Money,
    Offer,
    PriceList,
    Subscription,
    SubscriptionRecord,
)
from shared.models.billing_run import BillingRunReport
from shared.models.party import TaxProfile
from shared.models.pricing import Markup
from shared.models.reconciliation import BilledLine, MicrosoftLine
from shared.payments import StripePayments
from shared.payments.models import IssueLine
from shared.policy.reconciliation import reconcile
from tests.e2e.harness import ROOT, LocalStack, start_stack

OUT = Path(__file__).parent / "out" / "billing.json"
CUSTOMERS = 1_000
LATENCY_MS = 150
GOAL_RATIO = 1.5
PERIOD = "2027-03"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
ROUTE = "/api/ops/billing-runs"
SETUP_THREADS = 16

Row = dict[str, object]


def run(customers: int = CUSTOMERS, latency_ms: int = LATENCY_MS, out: Path = OUT) -> list[Row]:
    with (
        tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp,
        start_stack(Path(tmp) / "stack", ROOT) as stack,
    ):
        rows = measure(stack, customers, latency_ms)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"Billing run of {customers:,} customers (Stripe answering in {latency_ms} ms) "
        "against the same Stripe calls made bare"
    )
    print_table(rows)
    missed = [str(row["measure"]) for row in rows if row["goal"] and not goals_met([row])]
    print("goals met" if not missed else "goal NOT met: " + "; ".join(missed))
    return rows


def measure(stack: LocalStack, customers: int, latency_ms: int) -> list[Row]:
    concurrency = stack.settings.billing_in_flight
    stripe = StripePayments.from_settings(stack.settings)
    ids = seed(stack, customers)
    stack.slow_stripe(latency_ms)
    bare_s, bare_calls = bare(stripe, ids, concurrency)
    report, run_s = billing_run(stack)
    stack.slow_stripe(0)
    totals = report.totals
    if totals.issued != customers or totals.skipped or not report.complete:
        raise RuntimeError(f"the run did not issue every invoice once: {report}")
    lines_s, lines = match(stack, list(ids))
    return [
        _row(f"bare: the invoices' {bare_calls:,} Stripe calls, s", bare_s,
             note=f"the app's client, {concurrency} customers at a time"),
        _row("billing run, s", run_s,
             note=f"{totals.issued:,} invoices issued, totals "
                  f"{', '.join(str(t) for t in totals.totals)}"),
        _row("billing run / its bare calls", run_s / bare_s, GOAL_RATIO,
             note="the host's part (Durable, Azurite) over the external calls'"),
        _row("invoices per second", customers / run_s),
        _row("reconciliation matcher, lines per second", lines / lines_s,
             note=f"{lines:,} lines matched in process, all matched"),
    ]  # fmt: skip


def seed(stack: LocalStack, count: int) -> dict[str, str]:
    return seed_book(stack.settings, stack.stripe, count)


def seed_book(settings: Settings, sdk: StripeClient, count: int) -> dict[str, str]:
    """N customers in the book (and their Stripe customers, each with a card): customer i
    has Business Basic billed monthly, bought on day 1 + i % 28 of June 2026, sold at
    5.40 EUR, 1 + i % 20 seats; every third also an annual plan renewing in March.
    Their Stripe customer ids by customer id."""
    book = Book(settings)
    book.offers.save(
        Offer(catalog_item_id=BASIC, country="NL", name="Business Basic", term_duration="P1Y",
              billing_cycle="monthly", unit_cost=Money.from_decimal("4.90", "EUR"),
              family="CFQ7TTC0LH18", rank=1)
    )  # fmt: skip
    book.offers.save(
        Offer(catalog_item_id=BASIC, country="NL", name="Business Basic", term_duration="P1Y",
              billing_cycle="annual", unit_cost=Money.from_decimal("58.80", "EUR"),
              family="CFQ7TTC0LH18", rank=1)
    )  # fmt: skip
    book.price_lists.save(
        PriceList(id="standard", currency="EUR", default=Markup(rate=Decimal("0.10")))
    )

    def one(i: int) -> tuple[str, str]:
        cid = f"bench-{i:05d}"
        cus = sdk.v1.customers.create(
            {"name": f"Bench {i}", "metadata": {"cspflow_customer_id": cid}}
        )
        pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
        sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
        book.customers.add(
            Customer(id=cid, partner_id="p", company_name=f"Bench {i}", domain=f"b{i}.example",
                     contacts=(Contact(name="A", email=f"a@b{i}.example"),),
                     billing_currency="EUR", country="NL", stripe_customer_id=cus.id,
                     tax=TaxProfile(rate=Decimal("0.21")))
        )  # fmt: skip
        subs = [
            SubscriptionRecord(
                customer_id=cid,
                unit_price=Money.from_decimal("5.40", "EUR"),
                subscription=_sub(f"{cid}-m", 1 + i % 20, "monthly", date(2026, 6, 1 + i % 28)),
            )
        ]
        if i % 3 == 0:
            subs.append(
                SubscriptionRecord(
                    customer_id=cid,
                    unit_price=Money.from_decimal("60.00", "EUR"),
                    subscription=_sub(f"{cid}-a", 2, "annual", date(2026, 3, 1 + i % 28)),
                )
            )
        book.subscriptions.load(subs)
        return cid, cus.id

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return dict(pool.map(one, range(count)))


def _sub(sid: str, quantity: int, cycle: str, start: date) -> Subscription:
    end = date(start.year + 1, start.month, start.day).toordinal() - 1
    return Subscription.model_validate(
        {
            "id": sid,
            "offer_id": BASIC,
            "status": "active",
            "auto_renew_enabled": True,
            "quantity": quantity,
            "term_duration": "P1Y",
            "billing_cycle": cycle,
            "effective_start_date": datetime.combine(start, datetime.min.time(), UTC),
            "commitment_end_date": date.fromordinal(end),
        }
    )


def bare(stripe: StripePayments, ids: dict[str, str], concurrency: int) -> tuple[float, int]:
    """Each customer's invoice calls, made bare: tax rate, find, create, list lines, add a
    line, finalize, pay (7 calls; the run adds a line per extra subscription)."""

    def one(item: tuple[str, str]) -> int:
        cid, stripe_id = item
        rate = stripe.tax_rate(key="21", percentage=Decimal(21), display_name="VAT")
        invoice = stripe.issue_invoice(
            f"bare-{cid}",
            stripe_id,
            invoice_key=f"bare-{cid}",
            currency="EUR",
            lines=[
                IssueLine(amount=540, description="bare", tax_rate_ids=(rate,),
                          period_start=datetime(2027, 3, 1, tzinfo=UTC),
                          period_end=datetime(2027, 4, 1, tzinfo=UTC))
            ],
        )  # fmt: skip
        stripe.pay_invoice(f"bare-{cid}", invoice.id)
        return 7

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        calls = sum(pool.map(one, ids.items()))
    return time.perf_counter() - started, calls


def billing_run(stack: LocalStack) -> tuple[BillingRunReport, float]:
    started = time.perf_counter()
    answer = stack.api("POST", ROUTE, json={"period": PERIOD, "billing_day": 1})
    if answer.status_code != 202:
        raise RuntimeError(f"POST {ROUTE}: {answer.status_code} {answer.text}")
    location = answer.headers["Location"]
    while (status := stack.api("GET", location)).status_code == 202:
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    view: dict[str, Any] = status.json()
    if view.get("state") != "completed":
        raise RuntimeError(f"the run did not complete: {view}")
    return BillingRunReport.model_validate(view["report"]), seconds


def match(stack: LocalStack, customer_ids: list[str]) -> tuple[float, int]:
    """The matcher over the invoices the run recorded, against the same lines as Microsoft
    bills them (cycle charges and renewals): the time to classify them all."""
    book = Book(stack.settings)
    billed: list[BilledLine] = []
    for cid in customer_ids:
        invoice = book.invoices.get(cid, f"{cid}-{PERIOD}").record
        billed += [
            BilledLine(customer_id=cid, invoice_id=invoice.id, subscription_id=line.subscription_id,
                       kind=line.kind, quantity=line.quantity, amount=line.amount,
                       period_start=line.period_start.date(), period_end=line.period_end.date())
            for line in invoice.lines
            if line.subscription_id is not None
        ]  # fmt: skip
    microsoft = [
        MicrosoftLine(line_no=n, tenant_id=b.customer_id, customer_id=b.customer_id,
                      subscription_id=b.subscription_id,
                      charge_type="renew" if b.kind == "renew" else "cycleCharge",
                      quantity=b.quantity, unit_price=Decimal("4.90"),
                      effective_unit_price=Decimal("4.90"),
                      subtotal=Money.from_decimal("4.90", "USD") * b.quantity,
                      charge_start=b.period_start, charge_end=b.period_end)
        for n, b in enumerate(billed)
    ]  # fmt: skip
    started = time.perf_counter()
    lines = reconcile(PERIOD, microsoft, billed, {})
    seconds = time.perf_counter() - started
    if any(line.classification != "matched" for line in lines):
        raise RuntimeError("the run's own lines did not all match")
    return seconds, len(lines)


def _row(measure: str, value: float, goal: float | None = None, *, note: str = "") -> Row:
    return {
        "measure": measure,
        "value": round(value, 2),
        "goal": f"<= {goal}" if goal is not None else "",
        "note": note,
    }


def goals_met(rows: Sequence[dict[str, Any]]) -> bool:
    return all(
        float(str(row["value"])) <= float(str(row["goal"]).removeprefix("<= "))
        for row in rows
        if row["goal"]
    )


if __name__ == "__main__":
    run()
