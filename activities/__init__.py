"""Activities: one side effect each, one typed input model each."""

import azure.durable_functions as df

from activities.billing import bp as billing_bp
from activities.book_sync import bp as book_sync_bp
from activities.catalog import bp as catalog_bp
from activities.connectivity import bp as connectivity_bp
from activities.dunning import bp as dunning_bp
from activities.licence_change import bp as licence_change_bp
from activities.notifications import bp as notifications_bp
from activities.onboarding import bp as onboarding_bp
from activities.payments import bp as payments_bp
from activities.reconciliation import bp as reconciliation_bp
from activities.renewals import bp as renewals_bp
from activities.sla_clocks import bp as sla_clocks_bp
from activities.subscriptions import bp as subscriptions_bp
from activities.webhook_registration import bp as webhook_registration_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (
    connectivity_bp,
    notifications_bp,
    sla_clocks_bp,
    catalog_bp,
    webhook_registration_bp,
    book_sync_bp,
    subscriptions_bp,
    payments_bp,
    licence_change_bp,
    onboarding_bp,
    renewals_bp,
    dunning_bp,
    billing_bp,
    reconciliation_bp,
)
