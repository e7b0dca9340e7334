"""The same change as v2/, made without the version guard: what not to do. A 1.0 instance
waiting when this is deployed replays into a call its history does not have."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from tests.workflows.versioning.steps import (
    Customer,
    bp,
    create_mailbox,
    record_activation,
    send_welcome,
)
from workflows.durable import orchestration, run

app = df.DFApp()
app.register_functions(bp)
flows = df.Blueprint()


@orchestration(flows)
def activate(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    customer = Customer.model_validate(context.get_input())
    steps = [(yield from run(context, send_welcome, customer)).unwrap().step]
    steps.append((yield from run(context, create_mailbox, customer)).unwrap().step)
    context.set_custom_status({"state": "waiting"})
    yield context.wait_for_external_event("activated")
    steps.append((yield from run(context, record_activation, customer)).unwrap().step)
    return steps


app.register_functions(flows)
