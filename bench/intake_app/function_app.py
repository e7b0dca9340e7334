"""The intake benchmark's app: cspflow's webhook routes and queue consumers as the product
registers them, beside `bare`, an HTTP function that only answers 200: the floor the
webhook routes are measured against, on the same host in the same run (bench/intake.py).
Not the product's function_app: `bare` would be of no use there.

The consumers are told this host registers no orchestrator (it registers none): the
workflows' steps are kept in the book's inbox, which the bench counts, rather than started on
a host that could not run them. What is measured is intake, not the workflows."""

import azure.durable_functions as df
import azure.functions as func

from triggers.queues import intake_blueprint
from triggers.webhooks import bp as webhooks_bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(webhooks_bp)
app.register_functions(intake_blueprint(orchestrators=frozenset))


@app.route(route="bare", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def bare(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=200)
