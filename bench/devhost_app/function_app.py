"""The benchmark workloads as a Functions app for devhost (peer versions in bench/devhost.py)."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def sequential(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    total = 0
    for n in range(int(context.get_input())):
        total += yield context.call_activity("step", n)
    return total


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    results = yield context.task_all(
        [context.call_activity("step", n) for n in range(int(context.get_input()))]
    )
    return sum(results)


@app.orchestration_trigger(context_name="context")
def hello_sequence5(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    out = []
    for city in ("Tokyo", "Seattle", "London", "Cairo", "Lima"):
        out.append((yield context.call_activity("hello", city)))
    return out


@app.activity_trigger(input_name="n")
def step(n: int) -> int:
    return n + 1


@app.activity_trigger(input_name="city")
def hello(city: str) -> str:
    return f"Hello {city}!"
