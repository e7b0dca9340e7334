"""Activities: one side effect each, one typed input model each."""

import azure.durable_functions as df

from activities.connectivity import bp as connectivity_bp
from activities.webhook_registration import bp as webhook_registration_bp

BLUEPRINTS: tuple[df.Blueprint, ...] = (connectivity_bp, webhook_registration_bp)
