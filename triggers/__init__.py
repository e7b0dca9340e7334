"""How work arrives: storefront HTTP API, webhooks, timer sweeps, queue consumers.

Every HTTP route is declared with the API kit (triggers/api/, docs/api.md)."""

import azure.durable_functions as df

from triggers.billing import bp as billing_bp
from triggers.book_sync import bp as book_sync_bp
from triggers.catalog import bp as catalog_bp
from triggers.customers import bp as customers_bp
from triggers.dunning import bp as dunning_bp
from triggers.health import bp as health_bp
from triggers.intake_ops import bp as intake_ops_bp
from triggers.licence_changes import bp as licence_changes_bp
from triggers.openapi import bp as openapi_bp
from triggers.ops import bp as ops_bp
from triggers.orders import bp as orders_bp
from triggers.queues import bp as queues_bp
from triggers.reconciliation import bp as reconciliation_bp
from triggers.renewals import bp as renewals_bp
from triggers.sla import bp as sla_bp
from triggers.timers import bp as timers_bp
from triggers.webhooks import bp as webhooks_bp

# openapi's blueprint holds the API's catch-all (404/405), so it comes last.
BLUEPRINTS: tuple[df.Blueprint, ...] = (
    health_bp,
    ops_bp,
    intake_ops_bp,
    webhooks_bp,
    queues_bp,
    timers_bp,
    sla_bp,
    customers_bp,
    catalog_bp,
    book_sync_bp,
    licence_changes_bp,
    orders_bp,
    renewals_bp,
    dunning_bp,
    billing_bp,
    reconciliation_bp,
    openapi_bp,
)
