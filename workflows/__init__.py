"""Orchestrators: deterministic generators, one module per workflow."""

import azure.durable_functions as df

from workflows.billing_run import bp as billing_run_bp
from workflows.book_sync import bp as book_sync_bp
from workflows.catalog_sync import bp as catalog_sync_bp
from workflows.connectivity import bp as connectivity_bp
from workflows.dunning import bp as dunning_bp
from workflows.licence_change import bp as licence_change_bp
from workflows.onboarding import bp as onboarding_bp
from workflows.reconciliation import bp as reconciliation_bp
from workflows.renewals import bp as renewals_bp
from workflows.sla_clock import bp as sla_clock_bp
from workflows.webhook_registration import bp as webhook_registration_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (
    connectivity_bp,
    sla_clock_bp,
    catalog_sync_bp,
    webhook_registration_bp,
    book_sync_bp,
    licence_change_bp,
    onboarding_bp,
    renewals_bp,
    dunning_bp,
    billing_run_bp,
    reconciliation_bp,
)
