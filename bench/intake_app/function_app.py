"""The intake benchmark's app: cspflow's webhook routes and queue consumers as the product
registers them, beside `bare`, an HTTP function that only answers 200: the floor the
webhook routes are measured against, on the same host in the same run (bench/intake.py).
Not the product's function_app: `bare` would be of no use there."""

import azure.durable_functions as df
import azure.functions as func

from triggers.queues import bp as queues_bp
from triggers.webhooks import bp as webhooks_bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(webhooks_bp)
app.register_functions(queues_bp)


@app.route(route="bare", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def bare(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=200)
