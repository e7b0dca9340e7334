"""Activities that say which process ran them: for devhost's worker processes
(FUNCTIONS_WORKER_PROCESS_COUNT). `die_once` ends its own process the first time it runs
for a marker file, as a worker that crashes mid-activity would."""

import asyncio
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def where_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    n = context.get_input()
    pids = yield context.task_all([context.call_activity("pid_of", i) for i in range(n)])
    waited = yield context.call_activity("pid_after_await", "x")
    try:
        yield context.call_activity("refuse", "no")
    except Exception as exc:
        failure = str(exc).split(" \n ")[0]
    return {"pids": pids, "async": waited, "failure": failure}


@app.orchestration_trigger(context_name="context")
def survive_a_crash(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    options = df.RetryOptions(1000, 3)
    first_try_failed = None
    try:
        yield context.call_activity("die_once", context.get_input())
    except Exception as exc:
        first_try_failed = str(exc).split(" \n ")[0]
    pid = yield context.call_activity_with_retry("die_once", options, context.get_input())
    return {"first_try": first_try_failed, "pid": pid}


@app.activity_trigger(input_name="n")
def pid_of(n: int) -> int:
    return os.getpid()


@app.activity_trigger(input_name="text")
async def pid_after_await(text: str) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {"pid": os.getpid(), "text": text}


@app.activity_trigger(input_name="why")
def refuse(why: str) -> None:
    raise ValueError(f"refused: {why}")


@app.activity_trigger(input_name="marker")
def die_once(marker: str) -> int:
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os._exit(3)  # the process ends mid-activity: no result, no exception
    return os.getpid()
