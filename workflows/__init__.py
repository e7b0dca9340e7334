"""Orchestrators: deterministic generators, one module per workflow."""

import azure.durable_functions as df

BLUEPRINTS: tuple[df.Blueprint, ...] = ()
