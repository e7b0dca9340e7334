"""The HTTP front: HTTP-triggered functions under `/<routePrefix>/...` and `/admin/clock`.

Requests become `func.HttpRequest` through the worker's own converter (method, full URL,
headers, query, route values, body bytes), and return values go back through the worker's
`HttpResponseConverter` (a `str` is a 200 text/plain response). A route that matches no
function, or matches only for other methods, is 404 as in the Functions host. An unhandled
exception, or a return value that is neither `func.HttpResponse` nor `str` (None included, as
in the worker), is a 500 with an empty body; the stack goes to the log only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions import meta

from devhost.http_auth import KeyRing, Level, presented_key
from devhost.http_routes import Router
from devhost.listeners.invoke import converter, trigger_of

log = logging.getLogger("devhost.http")

InvokeFn = Callable[[func.Function, Any], Awaitable[Any]]


def function_level(fn: func.Function) -> Level:
    level = getattr(trigger_of(fn), "auth_level", None)
    value = str(getattr(level, "value", level or "function")).lower()
    return Level(value) if value in {lvl.value for lvl in Level} else Level.FUNCTION


def route_of(fn: func.Function) -> str:
    return str(getattr(trigger_of(fn), "route", None) or fn.get_function_name())


def methods_of(fn: func.Function) -> list[str] | None:
    methods = getattr(trigger_of(fn), "methods", None)
    if not methods:
        return None
    return [str(getattr(m, "value", m)).upper() for m in methods]


def build_router(functions: list[func.Function]) -> Router[func.Function]:
    router: Router[func.Function] = Router()
    for fn in functions:
        router.add(route_of(fn), methods_of(fn), fn)
    return router


def http_request(request: web.Request, body: bytes, route_values: dict[str, str]) -> Any:
    """The func.HttpRequest the worker hands a function, built by the worker's converter."""

    def s(value: str) -> meta.Datum:
        return meta.Datum(value, "string")

    headers = {name: ", ".join(request.headers.getall(name)) for name in request.headers}
    query = {name: ",".join(request.query.getall(name)) for name in request.query}
    datum = meta.Datum(
        {
            "method": s(request.method),
            "url": s(str(request.url)),
            "headers": {k: s(v) for k, v in headers.items()},
            "query": {k: s(v) for k, v in query.items()},
            "params": {k: s(v) for k, v in route_values.items()},
            "body": meta.Datum(body, "bytes"),
        },
        "http",
    )
    return converter("httpTrigger").decode(datum, trigger_metadata={})


def web_response(result: Any) -> web.Response:
    """Turn a function's return value into the host's HTTP response."""
    try:
        datum = converter("http").encode(result, expected_type=None)
    except NotImplementedError:
        # The worker fails such an invocation ("unable to encode outgoing TypedData").
        raise TypeError(
            f"an HTTP function returned {type(result).__name__}; return func.HttpResponse or str"
        ) from None
    if datum.type == "string":
        return web.Response(
            status=200, body=datum.value.encode("utf-8"), content_type="text/plain", charset="utf-8"
        )
    value = datum.value
    headers = {name: h.value for name, h in value["headers"].items()}
    response = web.Response(status=int(value["status_code"].value), body=value["body"].value)
    for name, header in headers.items():
        response.headers[name] = header
    for cookie in value.get("cookies") or []:
        for morsel in cookie.values():
            response.headers.add("Set-Cookie", morsel.OutputString())
    return response


class FunctionsFront:
    """aiohttp handlers for the app's HTTP functions and the admin clock."""

    def __init__(
        self,
        functions: list[func.Function],
        route_prefix: str,
        invoke: InvokeFn,
        keys: KeyRing | None,
        clock: Any,
    ) -> None:
        self._router = build_router(functions)
        self._prefix = f"/{route_prefix.strip('/')}" if route_prefix.strip("/") else ""
        self._invoke = invoke
        self._keys = keys
        self._clock = clock

    def function_urls(self, base_url: str, functions: list[func.Function]) -> list[str]:
        lines = []
        for fn in functions:
            methods = ",".join(methods_of(fn) or ["GET", "POST", "..."])
            lines.append(
                f"{fn.get_function_name()}: [{methods}] {base_url}{self._prefix}/{route_of(fn)}"
            )
        return lines

    def install(self, app: web.Application) -> None:
        app.router.add_get("/admin/clock", self.get_clock)
        app.router.add_post("/admin/clock", self.set_clock)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)

    def _authorized(self, request: web.Request, level: Level) -> bool:
        if self._keys is None:
            return True
        key = presented_key(request.headers, request.query)
        return self._keys.allows(level, key)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        if self._prefix:
            if not path.lower().startswith(self._prefix.lower()):
                return web.Response(status=404)
            path = path[len(self._prefix) :]
            if path and not path.startswith("/"):
                return web.Response(status=404)
        match = self._router.resolve(request.method, path or "/")
        if match is None:
            return web.Response(status=404)
        fn, route_values = match
        if not self._authorized(request, function_level(fn)):
            return web.Response(status=401)
        body = await request.read()
        hold = _hold(self._clock)
        try:
            result = await self._invoke(fn, http_request(request, body, route_values))
            return web_response(result)
        except Exception:
            log.exception(
                "function %s failed on %s %s", fn.get_function_name(), request.method, path
            )
            return web.Response(status=500)
        finally:
            hold()

    async def get_clock(self, request: web.Request) -> web.Response:
        # Anonymous on purpose: sandboxes' RemoteClock reads it without a key. `file`: the
        # same reading as a memory-mapped file, for readers on this machine
        # (devhost/clock_file.py).
        answer: dict[str, Any] = {
            "now": self._clock.now().isoformat(),
            "virtual": _is_virtual(self._clock),
        }
        published = getattr(self._clock, "file_path", None)
        if published is not None:
            answer["file"] = str(published)
        return web.json_response(answer)

    async def set_clock(self, request: web.Request) -> web.Response:
        """Move a virtual clock: `{"advance": seconds}` or `{"set": ISO time}` (admin key).
        `{"hold": true}` keeps it from jumping when the host is idle (someone outside the
        host, such as a test playing a customer, acts "at once" over several requests) and
        answers the `hold` token; `{"release": token}` lets it jump again."""
        if not self._authorized(request, Level.ADMIN):
            return web.Response(status=401)
        if not _is_virtual(self._clock):
            return problem(
                409, "The clock is real", "start devhost with --virtual-clock to move it"
            )
        try:
            doc = await request.json()
        except ValueError:
            return problem(
                400, "Body is not JSON", 'send {"advance": seconds} or {"set": "ISO time"}'
            )
        try:
            if isinstance(doc, dict) and "advance" in doc:
                self._clock.advance(timedelta(seconds=float(doc["advance"])))
            elif isinstance(doc, dict) and "set" in doc:
                when = datetime.fromisoformat(str(doc["set"]))
                self._clock.set(when)
            elif isinstance(doc, dict) and doc.get("hold") is True:
                token = self._clock.hold()
                return web.json_response(
                    {"now": self._clock.now().isoformat(), "virtual": True, "hold": token}
                )
            elif isinstance(doc, dict) and "release" in doc:
                self._clock.release(int(doc["release"]))
            else:
                return problem(
                    400,
                    "Missing field",
                    'send {"advance": seconds}, {"set": "ISO time"}, {"hold": true} or '
                    '{"release": token}',
                )
        except (TypeError, ValueError) as exc:
            return problem(400, "Invalid clock change", str(exc))
        return web.json_response({"now": self._clock.now().isoformat(), "virtual": True})


def problem(status: int, title: str, detail: str) -> web.Response:
    """An RFC 9457 problem+json response (devhost's own endpoints)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/problem+json"
    )


def _is_virtual(clock: Any) -> bool:
    return bool(getattr(clock, "virtual", False)) or hasattr(clock, "advance")


def _hold(clock: Any) -> Callable[[], None]:
    """Keep a virtual clock from jumping while a request runs; returns the release."""
    hold = getattr(clock, "hold", None)
    if hold is None:
        return lambda: None
    token = hold()
    return lambda: clock.release(token)
