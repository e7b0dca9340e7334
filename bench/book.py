"""The book's due-soon query against the size of the book.

The renewal sweep lists the subscriptions whose term ends within the next 60 days. It reads
the term-end index (shared/book/subscriptions.py: PartitionKey = term-end day) for the
window's days only, then reads each row's subscription, so its cost should follow what is due,
not the size of the book.

Books of 1,000, 10,000 and 50,000 subscriptions are loaded into one Azurite, each under its
own table prefix, each with the same 100 due (term ends spread over the 60-day window) and
the rest ending 61 to 425 days on (annual terms, spread over the year's days). They are loaded
with the book's own loader (`Subscriptions.load`: entity group transactions of 100, 100
subscriptions per customer), index rows included.

Measured, the books interleaved so each sees the same stretch of a shared machine's load:
- due-soon query: `subscriptions.due_within(now, 60, limit=1000)`, all 100 in one page, best of
  REPEATS runs per book (the median is given too). Goal: the 50k book's time at most 1.5x the
  1k book's.
- for contrast, the query a book without the index would make: a scan of the Subscriptions
  table filtered on its TermEnd column (no goal; on Azure its cost grows with the table,
  in Azurite, which scans every query, too).

`run()` prints the table and writes bench/out/book.json: rows {"measure", "value", "goal"}.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.table import print_table
from devhost.azurite import start_azurite
from shared.book import Book
from shared.config import Settings
from shared.models import Subscription, SubscriptionRecord

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out" / "book.json"
SIZES = (1_000, 10_000, 50_000)
DUE = 100
WINDOW_DAYS = 60
LATER_DAYS = 365  # not due: 61 to 425 days on
PER_CUSTOMER = 100
REPEATS = 15
GOAL_RATIO = 1.5
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFER = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"

Row = dict[str, object]


def term_end(n: int, due: int, later_days: int = LATER_DAYS) -> datetime:
    """Subscription n's term end: the first `due` inside the window, spread over it; the
    others spread over the `later_days` days after it."""
    if n < due:
        return NOW + timedelta(minutes=1) + (n * timedelta(days=WINDOW_DAYS)) / due
    return NOW + timedelta(days=WINDOW_DAYS + 1 + n % later_days, hours=n % 24)


def records(size: int, due: int, later_days: int = LATER_DAYS) -> list[SubscriptionRecord]:
    made = []
    for n in range(size):
        end = term_end(n, due, later_days)
        last_second = end - timedelta(seconds=1)
        subscription = Subscription.model_validate(
            {
                "id": f"sub-{n:06d}",
                "offerId": OFFER,
                "quantity": 1 + n % 25,
                "status": "active",
                "autoRenewEnabled": True,
                "billingCycle": "monthly",
                "termDuration": "P1Y",
                "effectiveStartDate": (end - timedelta(days=365)).isoformat(),
                "commitmentEndDate": last_second.date().isoformat(),
                "commitmentEndDateTime": last_second.isoformat(),
            }
        )
        made.append(
            SubscriptionRecord(customer_id=f"c-{n // PER_CUSTOMER:05d}", subscription=subscription)
        )
    return made


def _best_and_median(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def run(
    sizes: Sequence[int] = SIZES,
    due: int = DUE,
    repeats: int = REPEATS,
    out: Path = OUT,
    later_days: int = LATER_DAYS,
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="book-bench-") as tmp:
        azurite = start_azurite(ROOT, Path(tmp) / "azurite")
        try:
            rows = measure(azurite.connection_string, sizes, due, repeats, later_days)
        finally:
            azurite.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"The book: due-soon query ({WINDOW_DAYS} days, {due} due) against the book's size")
    print_table(rows)
    print("goal met" if goals_met(rows) else "goal NOT met (a loaded machine? run it again)")
    return rows


def measure(
    connection: str, sizes: Sequence[int], due: int, repeats: int, later_days: int = LATER_DAYS
) -> list[Row]:
    books: dict[int, Book] = {}
    rows: list[Row] = []
    for size in sizes:
        settings = Settings.model_validate(
            {"AzureWebJobsStorage": connection, "table_prefix": f"bench{size}"}
        )
        books[size] = Book(settings)
        started = time.perf_counter()
        loaded = books[size].subscriptions.load(records(size, due, later_days))
        seconds = time.perf_counter() - started
        rows.append(
            {
                "measure": f"load {size:,} subscriptions (batches of 100), per second",
                "value": round(loaded / seconds),
                "goal": "",
            }
        )

    def indexed(book: Book) -> int:
        return len(book.subscriptions.due_within(NOW, WINDOW_DAYS, limit=1000).items)

    def scanned(book: Book) -> int:
        end = NOW + timedelta(days=WINDOW_DAYS)
        query = "TermEnd ge @start and TermEnd lt @end"
        return len(list(book.subscriptions.table.scan(query, {"start": NOW, "end": end}, "scan")))

    timings: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeats):
        for size, book in books.items():
            for name, query in (("indexed", indexed), ("scan", scanned)):
                timings.setdefault((name, size), []).append(_timed(query, book, due))

    small, large = min(sizes), max(sizes)
    for size in sizes:
        best, median = _best_and_median(timings["indexed", size])
        rows.append(
            {
                "measure": f"due-soon query, {size:,} subscriptions, ms (best; median {_ms(median)})",
                "value": _ms(best),
                "goal": "",
            }
        )
    bests = {size: min(timings["indexed", size]) for size in sizes}
    medians = {size: statistics.median(timings["indexed", size]) for size in sizes}
    rows.append(
        {
            "measure": f"due-soon query: {large:,} / {small:,} subscriptions, time ratio",
            "value": round(bests[large] / bests[small], 2),
            "goal": f"<= {GOAL_RATIO}",
        }
    )
    rows.append(
        {
            "measure": f"due-soon query: {large:,} / {small:,}, ratio of medians",
            "value": round(medians[large] / medians[small], 2),
            "goal": "",
        }
    )
    for size in (small, large):
        rows.append(
            {
                "measure": f"without the index: scan of {size:,} subscriptions, ms (best)",
                "value": _ms(min(timings["scan", size])),
                "goal": "",
            }
        )
    rows.append(
        {
            "measure": f"without the index: {large:,} / {small:,}, time ratio",
            "value": round(min(timings["scan", large]) / min(timings["scan", small]), 2),
            "goal": "",
        }
    )
    return rows


def _timed(query: Callable[[Book], int], book: Book, due: int) -> float:
    started = time.perf_counter()
    found = query(book)
    seconds = time.perf_counter() - started
    if found != due:
        raise RuntimeError(f"the due-soon query found {found} subscriptions, not {due}")
    return seconds


def goals_met(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every row with a goal meets it (goals are `<= x`)."""
    return all(
        float(str(row["value"])) <= float(str(row["goal"]).removeprefix("<= "))
        for row in rows
        if row["goal"]
    )


if __name__ == "__main__":
    run()
