"""Orchestrators: deterministic generators, one module per workflow."""

import azure.durable_functions as df

from workflows.connectivity import bp as connectivity_bp
from workflows.webhook_registration import bp as webhook_registration_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (connectivity_bp, webhook_registration_bp)
