"""A test app with its own top-level `shared` package (not cspflow's): devhost must serve it
with the app's package, as `func start` would."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from shared.greeting import greet

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="greet/{name}", methods=["GET"])
def greeting(req: func.HttpRequest) -> str:
    return greet(req.route_params["name"])


@app.route(route="greetings/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_greeting(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> Any:
    instance_id = await client.start_new("greeter", None, req.route_params["name"])
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def greeter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    return (yield context.call_activity("say", context.get_input()))


@app.activity_trigger(input_name="name")
def say(name: str) -> str:
    return greet(name)
