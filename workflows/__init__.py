"""Orchestrators: deterministic generators, one module per workflow."""

import azure.durable_functions as df

from workflows.catalog_sync import bp as catalog_sync_bp
from workflows.connectivity import bp as connectivity_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (connectivity_bp, catalog_sync_bp)
