"""Activities: one side effect each, one typed input model each."""

import azure.durable_functions as df

from activities.catalog import bp as catalog_bp
from activities.connectivity import bp as connectivity_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (connectivity_bp, catalog_bp)
