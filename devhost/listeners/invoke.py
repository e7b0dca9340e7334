"""Calling a user function the way the Python worker does, with its non-trigger bindings.

The worker runs `async def` functions on its event loop and plain ones on a thread pool; it
fills a durable client parameter with the binding JSON string and `func.Out` parameters with
settable holders whose values the host writes out after a successful call. devhost does the
same; only queue outputs (and the HTTP `$return`) are supported as output bindings.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions import meta

from devhost.listeners.storage import QueueClients, encode_message

T = TypeVar("T")

TRIGGER_TYPES = {"httpTrigger", "timerTrigger", "queueTrigger"}
# Bindings devhost fills itself (triggers and durable ones are the engine's or the front's).
SUPPORTED_BINDINGS = TRIGGER_TYPES | {
    "http",
    "queue",
    "durableClient",
    "orchestrationTrigger",
    "activityTrigger",
    "entityTrigger",
}


class Output(func.Out[T], Generic[T]):
    """A `func.Out` the function sets; devhost reads it after the call."""

    def __init__(self) -> None:
        self._value: T | None = None
        self.is_set = False

    def set(self, val: T) -> None:
        self._value = val
        self.is_set = True

    def get(self) -> T:
        return self._value  # type: ignore[return-value]


class UnsupportedBinding(ValueError):
    pass


def trigger_of(fn: func.Function) -> Any:
    """The function's trigger; Any because each kind carries its own attributes."""
    trigger = fn.get_trigger()
    if trigger is None:
        raise UnsupportedBinding(f"function {fn.get_function_name()!r} has no trigger")
    return trigger


def name_of(fn: func.Function) -> str:
    return str(fn.get_function_name())


def converter(binding_type: str) -> Any:
    """The worker's converter class for a binding type (azure.functions.meta registry)."""
    return meta.get_binding_registry().get(binding_type)  # type: ignore[no-untyped-call]


def check_bindings(fn: func.Function) -> None:
    """Refuse a function whose bindings devhost cannot fill, naming the binding."""
    for binding in fn.get_bindings():
        if binding.type not in SUPPORTED_BINDINGS:
            raise UnsupportedBinding(
                f"function {fn.get_function_name()!r}: binding {binding.name!r} of type "
                f"{binding.type!r} is not supported by devhost"
            )


@dataclass
class Invoker:
    """Calls functions with their bindings filled; one per host."""

    durable_client_json: Callable[[str | None, str | None], str]
    queues: QueueClients | None
    executor: Executor | None = None
    queue_encoding: str = "base64"
    # Sync functions still running on their threads: a cancelled call (a stop) leaves its
    # thread running, and nothing can interrupt it.
    _threads_running: int = field(default=0, init=False)
    _threads_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def threads_running(self) -> int:
        with self._threads_lock:
            return self._threads_running

    def _counted(self, call: Callable[[], Any]) -> Any:
        with self._threads_lock:
            self._threads_running += 1
        try:
            return call()
        finally:
            with self._threads_lock:
                self._threads_running -= 1

    async def call(self, fn: func.Function, trigger_value: Any) -> Any:
        """Run `fn` with its trigger argument; returns its `$return` value (HTTP response)."""
        kwargs: dict[str, Any] = {trigger_of(fn).name: trigger_value}
        outputs: dict[str, tuple[Any, Output[Any]]] = {}
        return_queue: Any = None
        for binding in fn.get_bindings():
            if binding.type == "durableClient":
                kwargs[binding.name] = self.durable_client_json(
                    getattr(binding, "task_hub", None), getattr(binding, "connection_name", None)
                )
            elif binding.type == "queue" and binding.name == "$return":
                return_queue = binding
            elif binding.type == "queue":
                holder: Output[Any] = Output()
                kwargs[binding.name] = holder
                outputs[binding.name] = (binding, holder)
        user = fn.get_user_function()
        if inspect.iscoroutinefunction(user):
            result = await user(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                self.executor, self._counted, partial(user, **kwargs)
            )
        for binding, holder in outputs.values():
            if holder.is_set and holder.get() is not None:
                await self._send(binding, holder.get())
        if return_queue is not None and result is not None:
            await self._send(return_queue, result)
            return None
        return result

    async def _send(self, binding: Any, value: Any) -> None:
        if self.queues is None:
            raise RuntimeError("queue output binding used but no storage is configured")
        queue = self.queues.queue(binding.connection, binding.queue_name)
        for body in queue_bodies(value):
            try:
                await queue.send_message(encode_message(body, self.queue_encoding))
            except ResourceNotFoundError:
                # The host creates an output queue on first write (maybe several at once).
                with contextlib.suppress(ResourceExistsError):
                    await queue.create_queue()
                await queue.send_message(encode_message(body, self.queue_encoding))


def queue_bodies(value: Any) -> list[str | bytes]:
    """The messages a queue output value stands for, via the worker's own OutConverter."""
    datum = converter("queue").encode(value, expected_type=None)
    if datum.type in {"string", "bytes"}:
        return [datum.value]
    decoded = json.loads(datum.value)
    items = decoded if isinstance(decoded, list) else [decoded]
    bodies: list[str | bytes] = []
    for item in items:
        if isinstance(item, dict):
            bodies.append(str(item.get("body", "")))
        elif isinstance(item, str):
            bodies.append(item)
        else:
            bodies.append(json.dumps(item))
    return bodies
