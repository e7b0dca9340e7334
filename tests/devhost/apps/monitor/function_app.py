"""Monitor: poll a status activity on a durable timer until it reports done or expires."""

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    expiry = context.current_utc_datetime + timedelta(hours=6)
    polls = 0
    while context.current_utc_datetime < expiry:
        polls += 1
        state: str = yield context.call_activity("check_job", {"job": job, "poll": polls})
        context.set_custom_status({"polls": polls, "state": state})
        if state == "done":
            return {"polls": polls, "state": state}
        yield context.create_timer(context.current_utc_datetime + timedelta(minutes=30))
    return {"polls": polls, "state": "expired"}


@app.activity_trigger(input_name="check")
def check_job(check: dict[str, Any]) -> str:
    return "done" if check["poll"] >= int(check["job"]["done_after"]) else "running"
