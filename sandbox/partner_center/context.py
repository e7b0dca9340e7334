"""What every resource module shares: the store, the options, the webhook notifier and the
ledger of Microsoft's charges.

The sandbox is laid out as the Stripe sandbox is (sandbox/stripe): this shared context plus
one module per Partner Center resource, each a set of functions taking the context first:
customers.py, agreements.py, orders.py (carts, checkout, orders), subscriptions.py,
transitions.py (NCE upgrades) and audit.py; lifecycle.py does what time alone triggers
(billing cycles, renewals, expiry). The HTTP layer (app.py) authenticates, throttles and
replays, then calls them. Every function that depends on time takes `now` from the sandbox
clock, so a virtual clock that jumps a year renews everything due.

Unlike Stripe's per-request `Ctx`, this one lives as long as the sandbox: the background
loop (server.py) and every request share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.partner_center.ledger import DEFAULT_INVOICE_DAY, Ledger
from sandbox.partner_center.notifications import Notifier
from sandbox.partner_center.store import Store


@dataclass
class Options:
    partner_tenant_id: str
    renewal_processing: timedelta = timedelta(hours=1)
    # A distributor-reported lock (not on Microsoft Learn): renewal settings freeze 24 h
    # before term end. On by default so cspflow is tested against the stricter case.
    pre_renewal_lock: timedelta = timedelta(hours=24)
    provisioning_delay: timedelta = timedelta(0)
    subscription_updated_delay: timedelta = timedelta(0)
    subscription_updated_delay_random: bool = False  # 0-48 h per event, from `seed`
    webhook_duplicate_rate: float = 0.0
    invoice_day: int = DEFAULT_INVOICE_DAY
    seed: int | None = None


@dataclass(frozen=True)
class Caller:
    app_id: str
    user: str | None  # the user principal of an app+user token; None for app-only


class Ctx:
    def __init__(self, store: Store, options: Options) -> None:
        self.store = store
        self.options = options
        self.notifier = Notifier(
            store,
            options.partner_tenant_id,
            options.subscription_updated_delay,
            options.webhook_duplicate_rate,
            options.seed,
            options.subscription_updated_delay_random,
        )
        self.ledger = Ledger(store, options.partner_tenant_id, options.invoice_day)
        # When time next makes something due; None = unknown (after any write). Lets the
        # background loop and every request skip the scan while nothing is due.
        self.due_at: datetime | None = None

    def changed(self) -> None:
        """A write may have made something due sooner: the next advance scans again."""
        self.due_at = None
