"""Activities: one side effect each, one typed input model each."""

import azure.durable_functions as df

BLUEPRINTS: tuple[df.Blueprint, ...] = ()
