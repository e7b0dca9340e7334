"""`python -m sandbox stripe --port N --data DIR [--clock-url URL]
[--webhook-url URL --webhook-secret whsec_... [--webhook-secret whsec_...]]
[--webhook-retries live|test] [--rate-limit N] [--seed-data demo|none]`."""

from __future__ import annotations

import asyncio
import signal

from sandbox.common.cli import announce_ready, common_args, parser
from sandbox.common.clock import Clock, RemoteClock, SystemClock
from sandbox.common.demo import SEED_CHOICES

from .server import Options, serve


def main(argv: list[str]) -> int:
    p = parser("python -m sandbox stripe", "A local Stripe API for cspflow (test mode).")
    p.add_argument("--webhook-url", default=None, help="endpoint that receives signed events")
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
    p.add_argument("--rate-limit", type=int, default=None, help="requests per second, then 429")
    p.add_argument(
        "--seed-data",
        choices=SEED_CHOICES,
        default="none",
        help="demo: the demo partner's customers and cards, created on first start",
    )
    ns = p.parse_args(argv)
    args = common_args(ns, "stripe")
    if (ns.webhook_url is None) != (not ns.webhook_secret):
        p.error("--webhook-url and --webhook-secret go together")
    if any(not s.startswith("whsec_") for s in ns.webhook_secret):
        p.error("--webhook-secret must start with whsec_")
    clock: Clock = RemoteClock(args.clock_url) if args.clock_url else SystemClock()
    options = Options(
        data_dir=args.data_dir,
        clock=clock,
        port=args.port,
        webhook_url=ns.webhook_url,
        webhook_secrets=tuple(ns.webhook_secret),
        webhook_retries=ns.webhook_retries,
        rate_limit_per_s=ns.rate_limit,
        seed_data=ns.seed_data,
    )
    asyncio.run(_run(options))
    return 0


async def _run(options: Options) -> None:
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    await serve(options, announce_ready, stopped.wait())
