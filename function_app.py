"""Composition root: builds the Functions app and registers every blueprint. No logic here.

The real Azure Functions host (and `python -m devhost start` locally) imports this module and
indexes `app`. Each package owns its blueprints; adding a workflow means adding its module to
the registry list in that package's `__init__`.
"""

import azure.durable_functions as df
import azure.functions as func

from activities import BLUEPRINTS as ACTIVITY_BLUEPRINTS
from triggers import BLUEPRINTS as TRIGGER_BLUEPRINTS
from workflows import BLUEPRINTS as WORKFLOW_BLUEPRINTS

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (*TRIGGER_BLUEPRINTS, *WORKFLOW_BLUEPRINTS, *ACTIVITY_BLUEPRINTS):
    app.register_functions(blueprint)
