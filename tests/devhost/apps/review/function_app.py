"""A test app for devhost's conformance to the Durable extension: the worked examples whose
histories test_orchestration_histories.py checks event by event (one activity, a failing
activity, a retry with backoff, continue_as_new, an entity signal then call), probes that
measure concurrency under host.json's limits, retries failing out of order,
sub-orchestration failures, entity FIFO, unknown names and payloads that are not JSON."""

import asyncio
import threading
import time
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


class BackoffRetryOptions(df.RetryOptions):  # type: ignore[misc]  # the SDK ships no stubs
    """The SDK serializes only the first interval and the attempts; the extension also reads
    backoffCoefficient, maxRetryIntervalInMilliseconds and retryTimeoutInMilliseconds
    (the Durable extension's RetryOptionsConverter, github.com/Azure/azure-functions-durable-extension), so
    an app can send them through `to_json`."""

    def __init__(self, first_ms: int, attempts: int, extra: dict[str, float]) -> None:
        super().__init__(first_ms, attempts)
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **self.extra}


@app.orchestration_trigger(context_name="context")
def one_activity(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("Hello", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def one_failing_activity(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("Boom", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def backoff_retry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    spec = context.get_input()
    options = BackoffRetryOptions(spec["first_ms"], spec["attempts"], spec["extra"])
    result = yield context.call_activity_with_retry("Boom", options, "x")
    return result


@app.orchestration_trigger(context_name="context")
def work_then_continue(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    n = context.get_input()
    yield context.call_activity("Work", n)
    if n < 2:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def signal_then_call(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    entity = df.EntityId("Counter", "myKey")
    context.signal_entity(entity, "add", 5)
    value = yield context.call_entity(entity, "get")
    return value


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    value: int = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    context.set_result(value)
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def probe_fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    count = context.get_input()
    tasks = [context.call_activity("probe_sync", n) for n in range(count)]
    tasks += [context.call_activity("probe_async", n) for n in range(count)]
    results = yield context.task_all(tasks)
    return len(results)


@app.activity_trigger(input_name="name")
def Hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="payload")
def Boom(payload: Any) -> str:
    raise RuntimeError("boom")


@app.activity_trigger(input_name="n")
def Work(n: int) -> int:
    return n


class Probe:
    """Counts activities running at this instant and the highest count seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


PROBE = Probe()
ORCHESTRATOR_PROBE = Probe()


@app.orchestration_trigger(context_name="context")
def probe_episode(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    # Measures overlapping orchestrator executions (replays included), not workflow logic.
    ORCHESTRATOR_PROBE.enter()
    try:
        time.sleep(0.005)
    finally:
        ORCHESTRATOR_PROBE.leave()
    result = yield context.call_activity("Work", context.get_input())
    return result


@app.activity_trigger(input_name="n")
def probe_sync(n: int) -> int:
    PROBE.enter()
    try:
        # Long enough for the other pool threads to start theirs, even when a loaded box
        # wakes a thread tens of ms late (the tests assert the peak reaches the cap).
        time.sleep(0.15)
    finally:
        PROBE.leave()
    return n


@app.activity_trigger(input_name="n")
async def probe_async(n: int) -> int:
    PROBE.enter()
    try:
        await asyncio.sleep(0.15)
    finally:
        PROBE.leave()
    return n


@app.orchestration_trigger(context_name="context")
def uncaught_child_failure(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_sub_orchestrator("failing_child", "x", "kid")
    return result


@app.orchestration_trigger(context_name="context")
def failing_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.call_activity("Work", 0)
    raise ValueError(context.get_input())


@app.orchestration_trigger(context_name="context")
def parent_of_waiter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_sub_orchestrator("wait_for_go", None, context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def wait_for_go(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    value = yield context.wait_for_external_event("Go")
    return value


@app.entity_trigger(context_name="context")
def Log(context: df.DurableEntityContext) -> None:
    items: list[Any] = context.get_state(list)
    if context.operation_name == "append":
        items.append(context.get_input())
    context.set_state(items)
    context.set_result(items)


@app.orchestration_trigger(context_name="context")
def signal_many_then_read(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    entity = df.EntityId("Log", context.get_input())
    for n in range(10):
        context.signal_entity(entity, "append", n)
    items = yield context.call_entity(entity, "get")
    return items


@app.orchestration_trigger(context_name="context")
def calls_unknown(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    kind = context.get_input()
    if kind == "sub":
        yield context.call_sub_orchestrator("no_such_orchestrator", None)
    elif kind == "call":
        yield context.call_entity(df.EntityId("NoSuchEntity", "k"), "get")
    else:
        context.signal_entity(df.EntityId("NoSuchEntity", "k"), "add", 1)
        yield context.call_activity("Work", 1)
    return "unreachable"


FAST_FAILED = threading.Event()
_attempts: dict[str, int] = {}


@app.orchestration_trigger(context_name="context")
def out_of_order_retries(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    options = df.RetryOptions(1000, 2)
    results = yield context.task_all(
        [
            context.call_activity_with_retry("fail_once_in_order", options, "slow"),
            context.call_activity_with_retry("fail_once_in_order", options, "fast"),
        ]
    )
    return results


@app.activity_trigger(input_name="role")
def fail_once_in_order(role: str) -> str:
    """First attempt fails, "fast" before "slow" although "slow" was scheduled first."""
    with PROBE.lock:
        _attempts[role] = _attempts.get(role, 0) + 1
        attempt = _attempts[role]
    if attempt > 1:
        return f"{role} ok"
    if role == "fast":
        FAST_FAILED.set()
    else:
        FAST_FAILED.wait(10)
        # Let the fast failure reach the engine first: its thread only has to raise, but on
        # a loaded 2-core CI box 0.2 s was not always enough for that.
        time.sleep(1.0)
    raise RuntimeError(f"{role} failed")


@app.orchestration_trigger(context_name="context")
def unserializable_payload(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    where = context.get_input()
    if where == "custom_status":
        context.set_custom_status({3, 4})
        result = yield context.call_activity("Work", 1)
    elif where == "activity_input":
        result = yield context.call_activity("Work", {1, 2})
    else:
        try:
            result = yield context.call_entity(df.EntityId("SetBox", "k"), "put")
        except Exception as exc:
            result = f"caught: {exc}"
    return result


@app.entity_trigger(context_name="context")
def SetBox(context: df.DurableEntityContext) -> None:
    context.set_state({5, 6})
