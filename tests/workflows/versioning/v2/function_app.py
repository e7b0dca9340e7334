"""Version 2.0 of the worked example: a mailbox is created between the welcome and the wait.

The new call is inserted before a point where 1.0 instances may be waiting, so it is guarded
by the instance's version: a 1.0 instance replays exactly the calls it made, a 2.0 instance
(host.json defaultVersion "2.0") makes the new one."""

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
from workflows.durable import at_least, orchestration, run

app = df.DFApp()
app.register_functions(bp)
flows = df.Blueprint()


@orchestration(flows)
def activate(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    customer = Customer.model_validate(context.get_input())
    steps = [(yield from run(context, send_welcome, customer)).unwrap().step]
    if at_least(context, "2.0"):  # new in 2.0; 1.0 instances never made this call
        steps.append((yield from run(context, create_mailbox, customer)).unwrap().step)
    context.set_custom_status({"state": "waiting"})
    yield context.wait_for_external_event("activated")
    steps.append((yield from run(context, record_activation, customer)).unwrap().step)
    return steps


app.register_functions(flows)
