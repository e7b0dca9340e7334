"""Fan-out/fan-in: an activity returns the work list, one activity per item in parallel."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    items: list[int] = yield context.call_activity("list_items", context.get_input())
    squares: list[int] = yield context.task_all([context.call_activity("square", n) for n in items])
    return {"count": len(squares), "sum": sum(squares), "squares": squares}


@app.activity_trigger(input_name="count")
def list_items(count: int) -> list[int]:
    return list(range(count))


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n
