"""Orchestrators: deterministic generators, one module per workflow."""

import azure.durable_functions as df

from workflows.book_sync import bp as book_sync_bp
from workflows.connectivity import bp as connectivity_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (connectivity_bp, book_sync_bp)
