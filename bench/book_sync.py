"""The book sync against the same Partner Center calls made bare: is it bound by Partner Center?

The whole local stack (tests/e2e/harness.py: Azurite, both sandboxes, devhost serving
function_app.py, on devhost's virtual clock; times are wall times) starts with
`--seed-data book:N`: N customers with their subscriptions in the Partner Center sandbox
and their Stripe customers (sandbox/common/book.py).
The Partner Center sandbox holds every request `LATENCY_MS` before answering: Partner Center
is a remote API whose answers take hundreds of milliseconds, the sandbox's a few (Microsoft
publishes no figure; 150 ms is a low one, and a lower latency makes the ratio harder).

Measured in one run, in this order:
1. bare, first sync's calls: the app's own client (PartnerCenterClient, MSAL, HTTPS) makes
   the Partner Center calls a first sync makes: every page of customers, and per customer
   its subscriptions and its billing profile (the first sync adopts every customer), then
   the customer list again (the sweep for customers gone) - with the concurrency the sync
   has (devhost runs `maxConcurrentActivityFunctions` activities at once, host.json), pages
   feeding the pool as they arrive, as the sync reads ahead;
2. the first sync (adoption), `POST /api/ops/book-syncs` to its report, over HTTP: the same
   calls plus everything cspflow does (Durable orchestration and sub-orchestrations,
   the book's reads and writes in Azurite, the Stripe listing and links);
3. bare, a nightly sync's calls: the same without billing profiles;
4. the second sync (nothing changed; it must write nothing: checked).
Goal: each sync's wall time at most 1.5x its bare calls' (the sync is bound by Partner
Center, not by cspflow). For contrast (no goal), the nightly pair again with no added
latency, where cspflow's own cost shows.

`run()` prints the table and writes bench/out/book_sync.json: rows {"measure", "value",
"goal", "note"}.
"""

from __future__ import annotations

import json
import queue
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.table import print_table
from shared.book import Book
from shared.models.book_sync import BookSyncReport
from shared.partner_center import PartnerCenterClient
from tests.book_sync_checks import snapshot
from tests.e2e.harness import ROOT, LocalStack, start_stack

OUT = Path(__file__).parent / "out" / "book_sync.json"
CUSTOMERS = 1_000
LATENCY_MS = 150
GOAL_RATIO = 1.5
PAGE_SIZE = 100  # the sync's page (shared/models/book_sync.py, SyncTuning)
SWEEP_PAGE_SIZE = 500  # the sweep's (activities/book_sync.py, SweepGone)
ROUTE = "/api/ops/book-syncs"

Row = dict[str, object]


@dataclass(frozen=True)
class Timed:
    seconds: float
    calls: int


def run(
    customers: int = CUSTOMERS,
    latency_ms: int = LATENCY_MS,
    out: Path = OUT,
    contrast: bool = True,
) -> list[Row]:
    # On devhost's virtual clock: time stands still while nothing waits on a timer, so the
    # second sync finds Partner Center as the first left it (on the wall clock, a 7-day window
    # closing between the two runs is a real change in Partner Center, and is corrected).
    with (
        tempfile.TemporaryDirectory(prefix="book-sync-bench-") as tmp,
        start_stack(Path(tmp) / "stack", ROOT, seed_data=f"book:{customers}") as stack,
    ):
        rows = measure(stack, customers, latency_ms, contrast)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"Book sync of {customers:,} customers (Partner Center answering in {latency_ms} ms) "
        "against the same Partner Center calls made bare"
    )
    print_table(rows)
    missed = [str(row["measure"]) for row in rows if row["goal"] and not goals_met([row])]
    print("goals met" if not missed else "goal NOT met: " + "; ".join(missed))
    return rows


def measure(stack: LocalStack, customers: int, latency_ms: int, contrast: bool) -> list[Row]:
    concurrency = _host_concurrency()
    client = PartnerCenterClient.from_settings(stack.settings)
    client.customer_page(1)  # a token, and a connection, as the sync's workers have theirs
    book = Book(stack.settings)

    stack.slow_partner_center(latency_ms)
    bare_first = bare_calls(client, concurrency, billing_profiles=True)
    first, first_s = sync(stack)
    if first.adopted.count != customers or not first.complete:
        raise RuntimeError(f"the first sync did not adopt the book: {first}")
    bare_nightly = bare_calls(client, concurrency, billing_profiles=False)
    before = snapshot(book)
    second, second_s = sync(stack)
    if second.unchanged.count != customers or snapshot(book) != before:
        raise RuntimeError(f"the second sync changed or wrote something: {second}")

    rows: list[Row] = [
        _row(f"bare: first sync's {bare_first.calls:,} Partner Center calls, s",
             bare_first.seconds, note=f"the app's client, {concurrency} at a time"),
        _row("first sync (adopts every customer), s", first_s,
             note=f"{first.adopted.count:,} adopted, {first.subscriptions:,} subscriptions, "
                  f"{first.linked.count:,} linked to Stripe, {first.ambiguous_count} ambiguous, "
                  f"{first.unlinked.count} unlinked"),
        _row("first sync / its bare calls", first_s / bare_first.seconds, GOAL_RATIO,
             note="adoption writes every customer, subscription, index row, timeline entry and "
                  "link"),
        _row(f"bare: nightly sync's {bare_nightly.calls:,} Partner Center calls, s",
             bare_nightly.seconds, note=f"{concurrency} at a time"),
        _row("second sync (nothing changed, nothing written), s", second_s,
             note=f"{second.unchanged.count:,} unchanged; no entity written (ETags compared)"),
        _row("second sync / its bare calls", second_s / bare_nightly.seconds, GOAL_RATIO,
             note="the nightly case: reads only"),
    ]  # fmt: skip
    if contrast:
        stack.slow_partner_center(0)
        bare_fast = bare_calls(client, concurrency, billing_profiles=False)
        _, fast_s = sync(stack)
        rows += [
            _row("no added latency: bare nightly calls, s", bare_fast.seconds,
                 note="the sandbox's own few milliseconds"),
            _row("no added latency: nightly sync, s", fast_s),
            _row("no added latency: nightly sync / its bare calls", fast_s / bare_fast.seconds,
                 note="cspflow's own cost (Durable, Azurite) where Partner Center costs nothing"),
        ]  # fmt: skip
    return rows


def bare_calls(client: PartnerCenterClient, concurrency: int, *, billing_profiles: bool) -> Timed:
    """The Partner Center calls of one sync made with the app's client and nothing else:
    the pages, read one after the other, feed a pool of `concurrency` workers that read
    each customer's subscriptions (and billing profile); then the list once more."""
    started = time.perf_counter()
    tenants: queue.Queue[str | None] = queue.Queue()
    page_reads: list[int] = []

    def pages() -> None:
        after = None
        while True:
            page = client.customer_page(PAGE_SIZE, after)
            page_reads.append(1)
            for customer in page.customers:
                tenants.put(customer.id)
            if page.next is None:
                break
            after = page.next
        tenants.put(None)

    def customer(tenant: str) -> int:
        client.list_subscriptions(tenant)
        if billing_profiles:
            client.get_billing_profile(tenant)
            return 2
        return 1

    reader = threading.Thread(target=pages)
    reader.start()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = []
        while (tenant := tenants.get()) is not None:
            futures.append(pool.submit(customer, tenant))
        calls = sum(f.result() for f in futures)
    reader.join()
    swept = list(client.list_customers(page_size=SWEEP_PAGE_SIZE))
    calls += len(page_reads) + max(1, -(-len(swept) // SWEEP_PAGE_SIZE))
    return Timed(time.perf_counter() - started, calls)


def sync(stack: LocalStack) -> tuple[BookSyncReport, float]:
    """One run over HTTP, from the POST to its report."""
    started = time.perf_counter()
    answer = stack.api("POST", ROUTE)
    if answer.status_code != 202:
        raise RuntimeError(f"POST {ROUTE}: {answer.status_code} {answer.text}")
    location = answer.headers["Location"]
    while (status := stack.api("GET", location)).status_code == 202:
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    view: dict[str, Any] = status.json()
    if view.get("state") != "completed":
        raise RuntimeError(f"the sync did not complete: {view}")
    return BookSyncReport.model_validate(view["report"]), seconds


def _host_concurrency() -> int:
    host = json.loads((ROOT / "host.json").read_text())
    return int(host["extensions"]["durableTask"]["maxConcurrentActivityFunctions"])


def _row(measure: str, value: float, goal: float | None = None, *, note: str = "") -> Row:
    return {
        "measure": measure,
        "value": round(value, 2),
        "goal": f"<= {goal}" if goal is not None else "",
        "note": note,
    }


def goals_met(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every row with a goal meets it (goals are `<= x`)."""
    return all(
        float(str(row["value"])) <= float(str(row["goal"]).removeprefix("<= "))
        for row in rows
        if row["goal"]
    )


if __name__ == "__main__":
    run()
