"""Activities: one side effect each, one typed input model each."""

import azure.durable_functions as df

from activities.book_sync import bp as book_sync_bp
from activities.connectivity import bp as connectivity_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (connectivity_bp, book_sync_bp)
