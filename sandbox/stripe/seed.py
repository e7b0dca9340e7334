"""`--seed-data demo`: the demo partner's billing customers and their cards, created once.

Each customer of sandbox/common/demo.py becomes a Stripe customer whose
`metadata[cspflow_customer_id]` is its Partner Center tenant id, with one card as the
invoices' default:

| customer | card | what it shows |
|---|---|---|
| Northwind Traders | `pm_card_visa` | healthy: every charge succeeds |
| Fabrikam Inc | `pm_card_sandbox_fail_after_0_insufficient_funds` | the next charge declines (insufficient_funds, a soft decline): dunning |
| Tailspin Toys | `pm_card_sandbox_expires_<next month>` | expires at the end of next month: card-expiry notice |

The seed goes through the sandbox's own API with the official SDK, as any client would (so
events and shapes are the real ones). It is idempotent: a customer already carrying its
tenant id is reused, and a card is attached only when the customer has no default yet, so a
restart or an interrupted first start never doubles anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

import stripe

from sandbox.common.clock import Clock
from sandbox.common.demo import FABRIKAM, NORTHWIND, TAILSPIN, DemoCustomer

log = logging.getLogger(__name__)

SEED_API_KEY = "sk_test_sandbox_demo_seed"  # the sandbox accepts any test key; one account
# The metadata key by which cspflow links a Stripe customer to its Partner Center customer.
# The sandbox keeps its own copy (it imports nothing from the app); a test holds it equal to
# the app's `shared.payments.PARTNER_CUSTOMER_KEY`.
PARTNER_CUSTOMER_KEY = "cspflow_customer_id"
EXPIRES_NEXT_MONTH = "expires-next-month"


@dataclass(frozen=True)
class DemoCard:
    customer: DemoCustomer
    token: str  # a test payment method, or EXPIRES_NEXT_MONTH


CARDS: tuple[DemoCard, ...] = (
    DemoCard(NORTHWIND, "pm_card_visa"),
    DemoCard(FABRIKAM, "pm_card_sandbox_fail_after_0_insufficient_funds"),
    DemoCard(TAILSPIN, EXPIRES_NEXT_MONTH),
)


def token_for(card: DemoCard, now: datetime) -> str:
    if card.token != EXPIRES_NEXT_MONTH:
        return card.token
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return f"pm_card_sandbox_expires_{year}_{month:02d}"


def seed_demo(base_url: str, now: datetime) -> None:
    """Create what is missing of the demo customers (blocking: run it off the event loop)."""
    client = stripe.StripeClient(SEED_API_KEY, base_addresses={"api": base_url})
    existing = {
        (cus.metadata.to_dict() if cus.metadata else {}).get(PARTNER_CUSTOMER_KEY): cus
        for cus in client.v1.customers.list({"limit": 100}).auto_paging_iter()
    }
    for card in CARDS:
        c = card.customer
        cus = existing.get(c.tenant_id)
        if cus is None:
            cus = client.v1.customers.create(
                {
                    "name": c.company,
                    "email": c.email,
                    "metadata": {PARTNER_CUSTOMER_KEY: c.tenant_id},
                },
                {"idempotency_key": f"demo-seed-{c.key}-customer"},
            )
        if cus.invoice_settings and cus.invoice_settings.default_payment_method:
            continue
        pm = client.v1.payment_methods.attach(
            token_for(card, now),
            {"customer": cus.id},
            {"idempotency_key": f"demo-seed-{c.key}-attach"},
        )
        client.v1.customers.update(
            cus.id,
            {"invoice_settings": {"default_payment_method": pm.id}},
            {"idempotency_key": f"demo-seed-{c.key}-default"},
        )


async def seed_when_ready(base_url: str, clock: Clock, poll_s: float = 0.5) -> None:
    """Seed as soon as the clock answers (devhost's virtual clock starts after the
    sandboxes), then return.

    Cancelled while it waits for the clock, it stops at once. Cancelled once the seed has
    begun, it lets the seed finish first: the seed's thread cannot be interrupted, and a
    request of it still in flight while the server shuts down would hold that shutdown open."""
    while True:
        try:
            now = await asyncio.to_thread(clock.now)
        except Exception:
            await asyncio.sleep(poll_s)
            continue
        break
    seeding = asyncio.ensure_future(asyncio.to_thread(seed_demo, base_url, now))
    try:
        await asyncio.shield(seeding)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await seeding
        raise
    except Exception:
        log.exception("stripe sandbox: the demo seed failed")
    else:
        log.info("stripe sandbox: demo customers ready")
