"""Entities: a counter (signal, call, read state) and concurrent updaters whose operations
the engine must apply one at a time per entity (no lost updates)."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    value: int = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
        context.set_result(value)
    elif operation == "get":
        context.set_result(value)
    elif operation == "reset":
        value = 0
    elif operation == "delete":
        context.destruct_on_exit()
        return
    else:
        raise ValueError(f"unknown operation {operation}")
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def use_counter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    key = context.get_input()
    entity = df.EntityId("Counter", key)
    context.signal_entity(entity, "add", 5)
    after_call = yield context.call_entity(entity, "add", 10)
    current = yield context.call_entity(entity, "get")
    try:
        yield context.call_entity(entity, "explode")
        error = None
    except Exception as exc:
        error = str(exc)
    return {"after_call": after_call, "current": current, "error": error}


@app.orchestration_trigger(context_name="context")
def increment_many(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    spec = context.get_input()
    entity = df.EntityId("Counter", spec["key"])
    last = None
    for _ in range(spec["times"]):
        last = yield context.call_entity(entity, "add", 1)
    return last
