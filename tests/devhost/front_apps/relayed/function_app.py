"""A test app for a virtual clock and a storage queue (not cspflow's).

An orchestration has an activity put a message on a queue, then waits three days on a durable
timer. The queue-triggered function records, in the file the RECORD setting names, when the
message was sent and when it ran (both on the host's clock): on a virtual clock the message
must run when it was sent, not after the jump to the timer.
"""

import json
import os
import urllib.request
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="relay")
@app.durable_client_input(client_name="client")
async def relay_start(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    instance_id = await client.start_new("relay")
    return func.HttpResponse(instance_id)


@app.orchestration_trigger(context_name="context")
def relay(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    sent = yield context.call_activity("send", context.current_utc_datetime.isoformat())
    yield context.create_timer(context.current_utc_datetime + timedelta(days=3))
    return sent


@app.activity_trigger(input_name="at")
def send(at: str) -> str:
    queue = QueueClient.from_connection_string(
        os.environ["AzureWebJobsStorage"],  # noqa: SIM112  (the Functions setting's name)
        os.environ["RELAY_QUEUE"],
        message_encode_policy=TextBase64EncodePolicy(),
    )
    queue.send_message(at)
    return at


@app.queue_trigger(arg_name="msg", queue_name="%RELAY_QUEUE%", connection="AzureWebJobsStorage")
def received(msg: func.QueueMessage) -> None:
    with urllib.request.urlopen(os.environ["DEVHOST_CLOCK_URL"], timeout=10) as reply:
        now = json.load(reply)["now"]
    with open(os.environ["RECORD"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"sent_at": msg.get_body().decode(), "ran_at": now}) + "\n")
