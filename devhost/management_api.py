"""The Durable management HTTP API (the Durable extension's `HttpApiHandler.cs`,
github.com/Azure/azure-functions-durable-extension), served twice:

- under `/runtime/webhooks/durabletask/...` on the public port: what
  `create_check_status_response` links to and what people call by hand;
- under `/durabletask/...` on the RPC listener: the `rpcBaseUrl` that the Python
  `DurableOrchestrationClient` sends every call to.

Every response body is JSON or empty (the SDK reads all of them with `response.json()`).
Errors have the extension's statuses: 400 bad argument, 404 unknown instance, 410 instance in a
state where the operation no longer applies, 409 an active instance with that id exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from devhost.errors import (
    EngineError,
    FunctionNotFoundError,
    InstanceExistsError,
    InstanceGoneError,
    InstanceNotFoundError,
    InvalidRequestError,
)
from devhost.http_auth import KeyRing, Level, presented_key
from devhost.management_urls import Urls
from devhost.status import TERMINAL, OrchestrationStatus, RuntimeStatus

log = logging.getLogger("devhost.management")


class Engine(Protocol):
    """What the management API needs from the Durable engine (devhost.engine.DurableEngine)."""

    def start_new(
        self,
        name: str,
        instance_id: str | None = None,
        input: Any = None,
        version: str | None = None,
    ) -> str: ...

    def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> OrchestrationStatus | None: ...

    def list_instances(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Iterable[RuntimeStatus | str] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int | None = None,
        continuation_token: str | None = None,
        show_input: bool = True,
    ) -> tuple[list[OrchestrationStatus], str | None]: ...

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None: ...
    def terminate(self, instance_id: str, reason: str | None = None) -> None: ...
    def suspend(self, instance_id: str, reason: str | None = None) -> None: ...
    def resume(self, instance_id: str, reason: str | None = None) -> None: ...
    def restart(self, instance_id: str, *, new_instance_id: bool = True) -> str: ...
    def purge(self, instance_id: str) -> int: ...

    def purge_many(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Iterable[RuntimeStatus | str] | None = None,
    ) -> int: ...

    def signal_entity(self, name: str, key: str, operation: str, input: Any = None) -> None: ...
    def read_entity_state(self, name: str, key: str) -> Any: ...


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    """Query booleans; the Python SDK renders them `True`, so compare ignoring case."""
    value = request.query.get(name)
    return default if value is None else value.strip().lower() == "true"


def _when(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"query parameter {name}={value!r} is not an ISO 8601 time"
        ) from None
    if when.tzinfo is None:
        raise InvalidRequestError(f"query parameter {name}={value!r} needs a UTC offset or Z")
    return when


def _statuses(request: web.Request) -> list[RuntimeStatus] | None:
    raw = request.query.get("runtimeStatus")
    if not raw:
        return None
    names = {s.value.lower(): s for s in RuntimeStatus}
    out = []
    for part in raw.split(","):
        status = names.get(part.strip().lower())
        if status is None:
            raise InvalidRequestError(f"runtimeStatus {part.strip()!r} is not a runtime status")
        out.append(status)
    return out


def _error(status: int, message: str) -> web.Response:
    """The extension's error body (ASP.NET HttpError), which the SDK reads ExceptionMessage of."""
    body = {
        "Message": "One or more of the arguments submitted is incorrect"
        if status == 400
        else message,
        "ExceptionMessage": message,
        "ExceptionType": "System.ArgumentException"
        if status == 400
        else "System.InvalidOperationException",
        "StackTrace": None,
    }
    return web.json_response(body, status=status)


async def _json_body(request: web.Request, what: str) -> tuple[bool, Any]:
    """(present, value) of a JSON body; raises InvalidRequestError when it is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return False, None
    try:
        return True, json.loads(raw)
    except ValueError:
        raise InvalidRequestError(f"{what} must be JSON") from None


def _operation_input(body: Any) -> Any:
    """The engine's value for a signal body.

    The Python client posts `json.dumps(input)` as a JSON string, and the extension keeps that
    JSON text as the operation input, so the entity sees `input` itself: decode the text once.
    A raw JSON body (a hand-made webhook call) is taken as the value.
    """
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ManagementApi:
    """The handlers; `install(app, prefix, level)` mounts them under a prefix."""

    def __init__(self, engine: Engine, urls: Urls, keys: KeyRing | None, clock: Any) -> None:
        self._engine = engine
        self._urls = urls
        self._keys = keys
        self._clock = clock

    def install(self, app: web.Application, prefix: str, level: Level) -> None:
        def guard(handler: Handler) -> Handler:
            async def guarded(request: web.Request) -> web.StreamResponse:
                if self._keys is not None and not self._keys.allows(
                    level, presented_key(request.headers, request.query)
                ):
                    return web.Response(status=401)
                try:
                    return await handler(request)
                except FunctionNotFoundError as exc:
                    return _error(400, str(exc).strip("'\""))
                except InvalidRequestError as exc:
                    return _error(400, str(exc))
                except InstanceNotFoundError:
                    return web.Response(status=404)
                except InstanceGoneError as exc:
                    return _error(410, str(exc))
                except InstanceExistsError as exc:
                    return _error(409, str(exc))
                except EngineError as exc:
                    # The engine itself is broken (its worker crashed): say so, as JSON.
                    log.error("management API: %s", exc)
                    return _error(500, str(exc))

            return guarded

        r = app.router
        p = prefix
        r.add_post(f"{p}/orchestrators/{{name}}", guard(self.start))
        r.add_post(f"{p}/orchestrators/{{name}}/{{instance_id}}", guard(self.start))
        r.add_get(f"{p}/instances", guard(self.list))
        r.add_get(f"{p}/instances/", guard(self.list))
        r.add_delete(f"{p}/instances", guard(self.purge_many))
        r.add_delete(f"{p}/instances/", guard(self.purge_many))
        r.add_get(f"{p}/instances/{{id}}", guard(self.status))
        r.add_delete(f"{p}/instances/{{id}}", guard(self.purge))
        r.add_post(f"{p}/instances/{{id}}/raiseEvent/{{event}}", guard(self.raise_event))
        r.add_post(f"{p}/instances/{{id}}/terminate", guard(self.terminate))
        r.add_post(f"{p}/instances/{{id}}/suspend", guard(self.suspend))
        r.add_post(f"{p}/instances/{{id}}/resume", guard(self.resume))
        r.add_post(f"{p}/instances/{{id}}/rewind", guard(self.not_supported))
        r.add_post(f"{p}/instances/{{id}}/restart", guard(self.restart))
        r.add_post(f"{p}/entities/{{name}}/{{key}}", guard(self.signal))
        r.add_delete(f"{p}/entities/{{name}}/{{key}}", guard(self.signal))
        r.add_get(f"{p}/entities/{{name}}/{{key}}", guard(self.read_entity))

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The engine is thread-safe and may block for one episode: keep it off the loop.
        return await asyncio.to_thread(method, *args, **kwargs)

    def _check_status(self, instance_id: str) -> web.Response:
        urls = self._urls.management_urls(instance_id, origin=self._urls.origin)
        return web.json_response(
            urls,
            status=202,
            headers={"Location": urls["statusQueryGetUri"], "Retry-After": "10"},
        )

    async def start(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id")
        present, value = await _json_body(request, "the orchestration input")
        version = request.query.get("version")
        new_id = await self._call(
            self._engine.start_new, name, instance_id, value if present else None, version
        )
        timeout = request.query.get("timeout")
        if timeout is None:
            return self._check_status(new_id)
        try:
            timeout_s = float(timeout)
            interval_s = float(request.query.get("pollingInterval", "1"))
        except ValueError:
            raise InvalidRequestError("timeout and pollingInterval are seconds") from None
        return await self._wait_or_check_status(request, new_id, timeout_s, interval_s)

    async def _wait_or_check_status(
        self, request: web.Request, instance_id: str, timeout_s: float, interval_s: float
    ) -> web.StreamResponse:
        """`WaitForCompletionOrCreateCheckStatusResponseAsync`: polls in wall-clock time."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = await self._call(self._engine.get_status, instance_id)
            if status is not None and status.runtime_status in TERMINAL:
                if status.runtime_status is RuntimeStatus.Completed:
                    return web.json_response(status.output, status=200)
                code = 500 if status.runtime_status is RuntimeStatus.Failed else 200
                return web.json_response(status.to_json(), status=code)
            if time.monotonic() >= deadline:
                return self._check_status(instance_id)
            await asyncio.sleep(max(0.01, min(interval_s, deadline - time.monotonic())))

    async def status(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["id"]
        status = await self._call(
            self._engine.get_status,
            instance_id,
            show_history=_flag(request, "showHistory"),
            show_history_output=_flag(request, "showHistoryOutput"),
            show_input=_flag(request, "showInput", default=True),
        )
        if status is None:
            return web.Response(status=404)
        body = status.to_json()
        if status.runtime_status in TERMINAL:
            failed = status.runtime_status is RuntimeStatus.Failed
            code = 500 if failed and _flag(request, "returnInternalServerErrorOnFailure") else 200
            return web.json_response(body, status=code)
        location = self._urls.management_urls(instance_id)["statusQueryGetUri"]
        return web.json_response(
            body, status=202, headers={"Location": location, "Retry-After": "5"}
        )

    async def list(self, request: web.Request) -> web.StreamResponse:
        top = request.query.get("top")
        if top is not None and not (top.isdigit() and int(top) > 0):
            raise InvalidRequestError(f"top={top!r} must be a positive integer")
        page, token = await self._call(
            self._engine.list_instances,
            created_from=_when(request, "createdTimeFrom"),
            created_to=_when(request, "createdTimeTo"),
            statuses=_statuses(request),
            instance_id_prefix=request.query.get("instanceIdPrefix") or None,
            page_size=int(top) if top else None,
            continuation_token=request.headers.get("x-ms-continuation-token") or None,
            show_input=_flag(request, "showInput", default=False),
        )
        headers = {"x-ms-continuation-token": token} if token else {}
        return web.json_response([s.to_json() for s in page], headers=headers)

    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            raise InvalidRequestError("raiseEvent needs Content-Type: application/json")
        _present, value = await _json_body(request, "the event data")
        await self._call(
            self._engine.raise_event, request.match_info["id"], request.match_info["event"], value
        )
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.StreamResponse:
        await self._call(
            self._engine.terminate, request.match_info["id"], request.query.get("reason")
        )
        return web.Response(status=202)

    async def suspend(self, request: web.Request) -> web.StreamResponse:
        await self._call(
            self._engine.suspend, request.match_info["id"], request.query.get("reason")
        )
        return web.Response(status=202)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        await self._call(self._engine.resume, request.match_info["id"], request.query.get("reason"))
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        """Start the instance's orchestrator again with its original input and version."""
        new_id = _flag(request, "restartWithNewInstanceId", default=True)
        started = await self._call(
            self._engine.restart, request.match_info["id"], new_instance_id=new_id
        )
        return self._check_status(started)

    async def not_supported(self, request: web.Request) -> web.StreamResponse:
        return _error(501, "rewind is not supported by devhost; restart or start a new instance")

    async def purge(self, request: web.Request) -> web.StreamResponse:
        deleted = await self._call(self._engine.purge, request.match_info["id"])
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    async def purge_many(self, request: web.Request) -> web.StreamResponse:
        created_from = _when(request, "createdTimeFrom")
        if created_from is None:
            raise InvalidRequestError("createdTimeFrom is required to purge many instances")
        deleted = await self._call(
            self._engine.purge_many,
            created_from=created_from,
            created_to=_when(request, "createdTimeTo") or self._clock.now(),
            statuses=_statuses(request),
        )
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    async def signal(self, request: web.Request) -> web.StreamResponse:
        name, key = request.match_info["name"], request.match_info["key"]
        key = "" if key == "$" else key
        if request.method == "DELETE":
            op = "delete"
        else:
            op = request.query.get("op") or ""
            if not op:
                raise InvalidRequestError("the op query parameter names the entity operation")
        _present, value = await _json_body(request, "the operation input")
        await self._call(self._engine.signal_entity, name, key, op, _operation_input(value))
        return web.Response(status=202)

    async def read_entity(self, request: web.Request) -> web.StreamResponse:
        name, key = request.match_info["name"], request.match_info["key"]
        state = await self._call(self._engine.read_entity_state, name, "" if key == "$" else key)
        if not state.exists:
            return web.Response(status=404)
        return web.json_response(state.state)
