"""Eternal orchestration: continue_as_new with a counter; events carry over generations."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def counter_loop(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    state = context.get_input()
    total = state["total"] + (yield context.call_activity("work", state["generation"]))
    if state["generation"] + 1 < state["generations"]:
        context.continue_as_new({**state, "generation": state["generation"] + 1, "total": total})
        return None
    return {"total": total, "generation": state["generation"]}


@app.orchestration_trigger(context_name="context")
def event_loop(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    seen = context.get_input()
    item = yield context.wait_for_external_event("Item")
    seen = [*seen, item]
    if item == "stop":
        return seen
    context.continue_as_new(seen)
    return None


@app.activity_trigger(input_name="generation")
def work(generation: int) -> int:
    return generation + 1
