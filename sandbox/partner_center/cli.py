"""`python -m sandbox partner-center [options]`: the Partner Center simulator as a process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta

from sandbox.common import cli
from sandbox.common.clock import Clock, RemoteClock, SystemClock
from sandbox.common.demo import SEED_CHOICES, seed_data
from sandbox.partner_center.faults import Faults
from sandbox.partner_center.ledger import DEFAULT_INVOICE_DAY
from sandbox.partner_center.server import DEFAULT_CLIENT_ID, PartnerCenterSandbox, SandboxConfig


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("a rate is between 0 and 1")
    return value


def main(argv: list[str]) -> int:
    asyncio.run(_serve(PartnerCenterSandbox(config_from_args(argv))))
    return 0


def config_from_args(argv: list[str]) -> SandboxConfig:
    """The sandbox's configuration from its command line (exits 2 on a bad option)."""
    p = cli.parser("python -m sandbox partner-center", "A local Microsoft Partner Center.")
    p.add_argument("--webhook-url", default=None, help="deliver every event to this callback")
    p.add_argument("--tenant-id", default=None, help="the partner tenant id (default: generated)")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the app registration's id")
    p.add_argument("--client-secret", default=None, help="the app's secret (default: generated)")
    p.add_argument("--seed", type=int, default=None, help="seed for throttling and faults")
    p.add_argument(
        "--seed-data",
        type=seed_data,
        metavar="|".join(SEED_CHOICES),
        default="none",
        help="demo: the demo partner's customers and subscriptions; book:N: a partner's book "
        "of N customers (repeatable with --seed); created on first start",
    )
    p.add_argument("--throttle-rate", type=_rate, default=0.0, help="share of calls answered 429")
    p.add_argument("--retry-after-ms", type=int, default=1000, help="wait advertised with a 429")
    p.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="hold every API request this long before answering (Partner Center's own time)",
    )
    p.add_argument("--rate-limit-per-minute", type=int, default=0, help="per-tenant limit (0=off)")
    p.add_argument("--fail-5xx-rate", type=_rate, default=0.0, help="share of calls answered 503")
    p.add_argument(
        "--slow-patch-ms", type=int, default=0, help="PATCHes answer 202 and apply later"
    )
    p.add_argument("--renewal-processing-hours", type=float, default=1.0)
    p.add_argument(
        "--pre-renewal-lock-hours",
        type=float,
        default=24.0,
        help="renewal settings lock before term end (0 = off; on by default, the stricter case)",
    )
    p.add_argument("--provisioning-delay-s", type=float, default=0.0)
    p.add_argument(
        "--subscription-updated-delay-hours",
        type=float,
        default=0.0,
        help="a fixed delay for every subscription-updated event (Microsoft: up to 48 h)",
    )
    p.add_argument(
        "--subscription-updated-delay-random",
        action="store_true",
        help="delay each subscription-updated event by 0-48 h at random (repeatable with --seed)",
    )
    p.add_argument("--webhook-duplicate-rate", type=_rate, default=0.0)
    p.add_argument(
        "--invoice-day",
        type=int,
        default=DEFAULT_INVOICE_DAY,
        help="day of the month (1..28) a month's invoice and invoice-ready come out"
        f" (default {DEFAULT_INVOICE_DAY}: Microsoft publishes them by the 8th)",
    )
    p.add_argument("--tick-ms", type=int, default=200, help="how often time-based work is checked")
    ns = p.parse_args(argv)
    common = cli.common_args(ns, "partner-center")
    if not 1 <= ns.invoice_day <= 28:
        p.error("--invoice-day must be 1..28")
    if not 0 <= ns.subscription_updated_delay_hours <= 48:
        p.error("--subscription-updated-delay-hours must be 0..48 (Microsoft: up to 48 h)")
    if ns.subscription_updated_delay_random and ns.subscription_updated_delay_hours:
        p.error("--subscription-updated-delay-random and -hours exclude each other")
    clock: Clock = RemoteClock(common.clock_url) if common.clock_url else SystemClock()
    return SandboxConfig(
        data_dir=common.data_dir,
        port=common.port,
        clock=clock,
        faults=Faults(
            throttle_rate=ns.throttle_rate,
            retry_after_ms=ns.retry_after_ms,
            latency_ms=max(ns.latency_ms, 0),
            rate_limit_per_minute=ns.rate_limit_per_minute,
            fail_5xx_rate=ns.fail_5xx_rate,
            slow_patch_ms=ns.slow_patch_ms,
        ),
        tenant_id=ns.tenant_id,
        client_id=ns.client_id,
        client_secret=ns.client_secret,
        renewal_processing=timedelta(hours=ns.renewal_processing_hours),
        pre_renewal_lock=timedelta(hours=ns.pre_renewal_lock_hours),
        provisioning_delay=timedelta(seconds=ns.provisioning_delay_s),
        subscription_updated_delay=timedelta(hours=ns.subscription_updated_delay_hours),
        subscription_updated_delay_random=ns.subscription_updated_delay_random,
        webhook_duplicate_rate=ns.webhook_duplicate_rate,
        invoice_day=ns.invoice_day,
        webhook_url=ns.webhook_url,
        seed=ns.seed,
        tick_s=max(ns.tick_ms, 10) / 1000,
        seed_data=ns.seed_data,
    )


async def _serve(sandbox: PartnerCenterSandbox) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    base_url = await sandbox.start_async()
    cli.announce_ready(base_url)
    try:
        await stop.wait()
    finally:
        await sandbox.stop_async()
