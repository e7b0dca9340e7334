"""`python -m sandbox stripe --port N --data DIR [--clock-url URL]
[--webhook-url URL --webhook-secret whsec_... [--webhook-secret whsec_...]]
[--webhook-events TYPE,TYPE...]
[--webhook-retries live|test] [--webhook-duplicate-rate R] [--webhook-out-of-order-rate R]
[--seed N] [--rate-limit N] [--seed-data demo|none|book:N]
[--auto-retries N] [--auto-retry-window-days D] [--will-be-due-days D] [--overdue-days D]`."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from sandbox.common.cli import announce_ready, common_args, parser
from sandbox.common.clock import Clock, RemoteClock, SystemClock
from sandbox.common.demo import SEED_CHOICES, seed_data

from .schedule import BillingSchedule
from .server import Options, serve


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("a rate is between 0 and 1")
    return value


def main(argv: list[str]) -> int:
    p = parser("python -m sandbox stripe", "A local Stripe API for cspflow (test mode).")
    p.add_argument("--webhook-url", default=None, help="endpoint that receives signed events")
    p.add_argument(
        "--webhook-events",
        default="*",
        help="the endpoint's enabled_events, comma-separated (default *: every type)",
    )
    p.add_argument(
        "--webhook-secret",
        action="append",
        default=[],
        help="whsec_... used to sign them; repeat while rotating (one v1 signature each)",
    )
    p.add_argument(
        "--webhook-retries",
        choices=("live", "test"),
        default="live",
        help="Stripe's retry schedule to follow: live (3 days) or test (3 retries)",
    )
    p.add_argument(
        "--webhook-duplicate-rate",
        type=_rate,
        default=0.0,
        help="share of events delivered a second time (same event id)",
    )
    p.add_argument(
        "--webhook-out-of-order-rate",
        type=_rate,
        default=0.0,
        help="share of events held back until a later event was delivered",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for duplicates and reordering")
    p.add_argument("--rate-limit", type=int, default=None, help="requests per second, then 429")
    p.add_argument(
        "--seed-data",
        type=seed_data,
        metavar="|".join(SEED_CHOICES),
        default="none",
        help="demo: the demo partner's customers and cards; book:N: the Stripe customers of a "
        "partner's book of N (repeatable with --seed); created on first start",
    )
    p.add_argument(
        "--auto-retries",
        type=int,
        default=8,
        help="automatic retries of a failed auto_advance invoice (Smart Retries: 8 ...)",
    )
    p.add_argument(
        "--auto-retry-window-days",
        type=float,
        default=14.0,
        help="... spread evenly over this many days (Stripe's recommended 2 weeks)",
    )
    p.add_argument(
        "--will-be-due-days",
        type=float,
        default=7.0,
        help="invoice.will_be_due this many days before a sent invoice's due date (0 = never)",
    )
    p.add_argument(
        "--overdue-days",
        type=float,
        default=0.0,
        help="invoice.overdue this many days after a sent invoice's due date",
    )
    ns = p.parse_args(argv)
    args = common_args(ns, "stripe")
    if (ns.webhook_url is None) != (not ns.webhook_secret):
        p.error("--webhook-url and --webhook-secret go together")
    if any(not s.startswith("whsec_") for s in ns.webhook_secret):
        p.error("--webhook-secret must start with whsec_")
    try:
        schedule = BillingSchedule(
            retries=ns.auto_retries,
            retry_window=timedelta(days=ns.auto_retry_window_days),
            will_be_due_before=timedelta(days=ns.will_be_due_days),
            overdue_after=timedelta(days=ns.overdue_days),
        )
    except ValueError as exc:
        p.error(str(exc))
    clock: Clock = RemoteClock(args.clock_url) if args.clock_url else SystemClock()
    options = Options(
        data_dir=args.data_dir,
        clock=clock,
        port=args.port,
        webhook_url=ns.webhook_url,
        webhook_events=enabled_events(ns.webhook_events),
        webhook_secrets=tuple(ns.webhook_secret),
        webhook_retries=ns.webhook_retries,
        webhook_duplicate_rate=ns.webhook_duplicate_rate,
        webhook_out_of_order_rate=ns.webhook_out_of_order_rate,
        seed=ns.seed,
        rate_limit_per_s=ns.rate_limit,
        seed_data=ns.seed_data,
        schedule=schedule,
    )
    asyncio.run(_run(options))
    return 0


def enabled_events(text: str) -> frozenset[str] | None:
    """`*` (every type) or the comma-separated types, as a webhook endpoint's
    `enabled_events`: https://docs.stripe.com/api/webhook_endpoints/create"""
    types = frozenset(t.strip() for t in text.split(",") if t.strip())
    return None if not types or "*" in types else types


async def _run(options: Options) -> None:
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    await serve(options, announce_ready, stopped.wait())
