"""A test app for the HTTP front and the management API (not part of cspflow)."""

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
ANON = func.AuthLevel.ANONYMOUS


@app.route(route="hello/{name:alpha}", methods=["GET"], auth_level=ANON)
def hello(req: func.HttpRequest) -> str:
    return f"Hello, {req.route_params['name']}"


@app.route(route="orders/{id:int}", methods=["GET"])
def order(req: func.HttpRequest) -> func.HttpResponse:
    doc = {
        "route": dict(req.route_params),
        "params": dict(req.params),
        "method": req.method,
        "url": req.url,
        "custom": req.headers.get("x-custom"),
    }
    return func.HttpResponse(
        json.dumps(doc), mimetype="application/json", headers={"x-order": req.route_params["id"]}
    )


@app.route(route="orders/new", methods=["GET"], auth_level=ANON)
def new_order(req: func.HttpRequest) -> str:
    return "the literal route wins"


@app.route(route="orders/{slug}", auth_level=ANON)
def order_by_slug(req: func.HttpRequest) -> str:
    return f"slug {req.route_params['slug']} via {req.method}"


@app.route(route="files/{*path}", auth_level=ANON)
def files(req: func.HttpRequest) -> str:
    return req.route_params.get("path") or "(root)"


@app.route(route="echo", methods=["POST"], auth_level=ANON)
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        req.get_body(), status_code=201, mimetype=req.headers.get("content-type", "text/plain")
    )


@app.route(route="json", methods=["POST"], auth_level=ANON)
def parse_json(req: func.HttpRequest) -> func.HttpResponse:
    try:
        doc = req.get_json()
    except ValueError:
        return func.HttpResponse("body is not JSON", status_code=400)
    return func.HttpResponse(json.dumps({"got": doc}), mimetype="application/json")


@app.route(route="boom", auth_level=ANON)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("internal detail sk_live_do_not_leak")


@app.route(route="forgot-to-return", auth_level=ANON)
def forgot_to_return(req: func.HttpRequest) -> None:
    return None


@app.route(route="ops/reset", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def ops_reset(req: func.HttpRequest) -> str:
    return "reset done"


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["name"], client_input=body)
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


@app.route(route="binding", methods=["GET"], auth_level=ANON)
@app.durable_client_input(client_name="client")
async def binding(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """What the client binding handed this function, so tests can build the same client."""
    b = client._orchestration_bindings
    doc = {
        "taskHubName": b.task_hub_name,
        "creationUrls": b.creation_urls,
        "managementUrls": b.management_urls,
        "rpcBaseUrl": b.rpc_base_url,
    }
    return func.HttpResponse(json.dumps(doc), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    name = context.get_input() or "world"
    first = yield context.call_activity("greet", name)
    second = yield context.call_activity("greet", first)
    return second


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for approval")
    decision = yield context.wait_for_external_event("Approval")
    return {"decision": decision}


@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", None)


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="ignored")
def explode(ignored: object) -> None:
    raise ValueError("the activity exploded")


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    elif context.operation_name == "reset":
        value = 0
    elif context.operation_name == "delete":
        context.destruct_on_exit()
        return
    context.set_state(value)
