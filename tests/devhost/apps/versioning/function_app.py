"""Versioning: host.json defaultVersion 2.0, CurrentOrOlder, Fail; code branches on
context.version, and a sub-orchestration inherits the default version."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def versioned(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    if context.version == "1.0":
        step = yield context.call_activity("legacy_step", None)
    else:
        step = yield context.call_activity("new_step", None)
    child_version = yield context.call_sub_orchestrator("report_version", None)
    return {"version": context.version, "step": step, "child_version": child_version}


@app.orchestration_trigger(context_name="context")
def report_version(context: df.DurableOrchestrationContext) -> Any:
    return context.version


@app.activity_trigger(input_name="payload")
def legacy_step(payload: Any) -> str:
    return "legacy"


@app.activity_trigger(input_name="payload")
def new_step(payload: Any) -> str:
    return "new"
