"""cspflow's functions as the Python worker indexes them from function_app.py."""

from collections.abc import Callable
from functools import cache
from typing import Any

import azure.functions as func

import function_app


@cache  # get_functions() may be called once per app, as the worker does
def functions_by_name() -> dict[str, func.Function]:
    return {f.get_function_name(): f for f in function_app.app.get_functions()}


def user_function(name: str) -> Callable[..., Any]:
    """The Python callable the worker invokes for the function `name`."""
    fn: Callable[..., Any] = functions_by_name()[name].get_user_function()
    return fn
