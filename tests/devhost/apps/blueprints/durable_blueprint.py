"""A Durable blueprint whose trigger names differ from the Python function names."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration="Greeter")
def greeter_impl(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    name = context.get_input()
    greeting: str = yield context.call_activity("Shout", name)
    count: int = yield context.call_entity(df.EntityId("Tally", "greetings"), "add", 1)
    return f"{greeting} (#{count})"


@bp.activity_trigger(input_name="name", activity="Shout")
def shout_impl(name: str) -> str:
    return f"HELLO {name.upper()}"


@bp.entity_trigger(context_name="context", entity_name="Tally")
def tally_impl(context: df.DurableEntityContext) -> None:
    value = (context.get_state(lambda: 0) or 0) + context.get_input()
    context.set_state(value)
    context.set_result(value)
