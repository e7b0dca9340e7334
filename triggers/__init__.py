"""How work arrives: storefront HTTP API, webhooks, timer sweeps, queue consumers.

Every HTTP route is declared with the API kit (triggers/api/, docs/api.md)."""

import azure.durable_functions as df

from triggers.book_sync import bp as book_sync_bp
from triggers.health import bp as health_bp
from triggers.openapi import bp as openapi_bp
from triggers.ops import bp as ops_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (health_bp, ops_bp, book_sync_bp, openapi_bp)
