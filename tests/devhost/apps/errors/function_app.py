"""Failures the host must report clearly: an orchestrator exception, an unknown activity,
non-determinism, an output that is not JSON serializable, an activity failure."""

import itertools
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()

_flip = itertools.count()


@app.orchestration_trigger(context_name="context")
def raises(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.call_activity("ok", None)
    raise ValueError("the order is invalid")


@app.orchestration_trigger(context_name="context")
def unknown_activity(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("no_such_activity", None)
    return result


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    # Branching on process state instead of the context: replay takes another path.
    name = "ok" if next(_flip) % 2 == 0 else "other"
    yield context.call_activity(name, None)
    yield context.call_activity("ok", None)
    return "unreachable on replay"


@app.orchestration_trigger(context_name="context")
def unserializable(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.call_activity("ok", None)
    return {1, 2, 3}


@app.orchestration_trigger(context_name="context")
def activity_fails(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("explode", "kaboom")
    return result


@app.activity_trigger(input_name="payload")
def ok(payload: Any) -> str:
    return "ok"


@app.activity_trigger(input_name="payload")
def other(payload: Any) -> str:
    return "other"


@app.activity_trigger(input_name="payload")
def explode(payload: Any) -> str:
    raise RuntimeError(f"activity exploded: {payload}")


@app.orchestration_trigger(context_name="context")
def bad_activity_output(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("returns_a_set", None)
    return result


@app.activity_trigger(input_name="payload")
def returns_a_set(payload: Any) -> set[int]:
    return {1, 2}
