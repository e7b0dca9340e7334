"""Version 1.0 of the worked example, as deployed before the change: welcome, wait for the
customer to activate, record."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from tests.workflows.versioning.steps import Customer, bp, record_activation, send_welcome
from workflows.durable import orchestration, run

app = df.DFApp()
app.register_functions(bp)
flows = df.Blueprint()


@orchestration(flows)
def activate(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    customer = Customer.model_validate(context.get_input())
    steps = [(yield from run(context, send_welcome, customer)).unwrap().step]
    context.set_custom_status({"state": "waiting"})
    yield context.wait_for_external_event("activated")
    steps.append((yield from run(context, record_activation, customer)).unwrap().step)
    return steps


app.register_functions(flows)
