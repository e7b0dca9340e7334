"""Retries: an activity that fails a set number of times, and two retried activities in a
fan-out failing out of order. Failures are scripted per key so runs are deterministic."""

import threading
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()

_lock = threading.Lock()
_calls: dict[str, int] = {}


@app.orchestration_trigger(context_name="context")
def retry_one(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    spec = context.get_input()
    options = df.RetryOptions(spec["first_ms"], spec["attempts"])
    try:
        result = yield context.call_activity_with_retry("flaky", options, spec)
    except Exception as exc:
        return {"failed": str(exc).split(" \n ")[0]}
    return {"result": result}


@app.orchestration_trigger(context_name="context")
def retry_fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    specs = context.get_input()
    options = df.RetryOptions(1000, 3)
    results = yield context.task_all(
        [context.call_activity_with_retry("flaky", options, spec) for spec in specs]
    )
    return results


@app.activity_trigger(input_name="spec")
def flaky(spec: dict[str, Any]) -> str:
    with _lock:
        _calls[spec["key"]] = _calls.get(spec["key"], 0) + 1
        call = _calls[spec["key"]]
    if call <= spec["fail_times"]:
        raise RuntimeError(f"{spec['key']} failure {call}")
    return f"{spec['key']} ok after {call}"
