"""Long waits as chains of durable timers (no single timer longer than 6 days)."""

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def wait_days(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    spec = context.get_input()
    start = context.current_utc_datetime
    end = start + timedelta(days=spec["days"])
    hops = 0
    while context.current_utc_datetime < end:
        step = min(timedelta(days=spec["step_days"]), end - context.current_utc_datetime)
        yield context.create_timer(context.current_utc_datetime + step)
        hops += 1
    elapsed = context.current_utc_datetime - start
    return {"hops": hops, "elapsed_days": elapsed.total_seconds() / 86400}


@app.orchestration_trigger(context_name="context")
def long_wait(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    # One 8-day timer: longer than Azure Storage's 6-day limit, so the SDK splits it.
    yield context.create_timer(context.current_utc_datetime + timedelta(days=8))
    return context.current_utc_datetime.isoformat()
