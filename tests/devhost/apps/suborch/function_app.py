"""Sub-orchestrations: with and without instance ids, with retry, and a failing child."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_sub_orchestrator("child", {"n": 1})
    named = yield context.call_sub_orchestrator("child", {"n": 2}, f"{context.instance_id}-named")
    both = yield context.task_all(
        [context.call_sub_orchestrator("child", {"n": n}) for n in (3, 4)]
    )
    try:
        yield context.call_sub_orchestrator("failing_child", "boom")
        failure = None
    except Exception as exc:
        failure = str(exc)
    retried = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", df.RetryOptions(1000, 3), {"key": context.instance_id}
    )
    return {"first": first, "named": named, "both": both, "failure": failure, "retried": retried}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    data = context.get_input()
    doubled = yield context.call_activity("double", data["n"])
    return {"m": doubled, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def failing_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.call_activity("double", 0)
    raise ValueError(f"child failed: {context.get_input()}")


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    attempt: int = yield context.call_activity("count_attempt", context.get_input()["key"])
    if attempt < 2:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


_ATTEMPTS: dict[str, int] = {}


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return n * 2


@app.activity_trigger(input_name="key")
def count_attempt(key: str) -> int:
    _ATTEMPTS[key] = _ATTEMPTS.get(key, 0) + 1
    return _ATTEMPTS[key]
