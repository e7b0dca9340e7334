"""Human interaction: wait for an approval event or give up after a durable timer."""

import threading
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    deadline = context.current_utc_datetime + timedelta(hours=72)
    timeout = context.create_timer(deadline)
    answer = context.wait_for_external_event("Approval")
    context.set_custom_status("waiting")
    winner = yield context.task_any([answer, timeout])
    if winner == answer:
        timeout.cancel()
        return {"approved": answer.result}
    return "timeout"


@app.orchestration_trigger(context_name="context")
def early_event(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    # The event is raised while the orchestrator still waits on the activity.
    first = yield context.call_activity("slow_step", None)
    event = yield context.wait_for_external_event("Go")
    return {"first": first, "event": event}


# Tests hold the activity here so an event can arrive while the orchestrator awaits it.
GATE = threading.Event()
GATE.set()


@app.activity_trigger(input_name="payload")
def slow_step(payload: Any) -> str:
    GATE.wait(10)
    return "stepped"
