"""The route kit: a route is declared once, and that one declaration registers the Functions
HTTP trigger, reads and checks the request, answers problems, and feeds the OpenAPI document.

    @API.route(
        bp, "POST", "orders",
        summary="Place an order",
        request=PlaceOrder,
        responses={202: OrderAccepted},
        command_id="order_id",
        durable_client=True,
    )
    async def place_order(call: Call[PlaceOrder], client: df.DurableOrchestrationClient) -> Reply:
        ...  # call.body is the validated PlaceOrder
        return Reply.accepted(OrderAccepted(...), location=call.url_for("orders", order_id))

Around the handler the kit:
1. reads the query (`query=` a model: 400 naming the parameter), the paging parameters
   (`paged=Paging(...)`: `limit`, `next`; 400 naming them) and the body (`request=` a model:
   413 over 1 MiB, 415 not JSON, 400 malformed JSON, 422 naming each refused field);
2. for a command (`command_id=` the body field with the client's id): answers a repeat of
   the same request as the first time (its recorded reply, `Idempotent-Replayed: true`), a
   reuse of the id with another request 409 (triggers/api/commands.py);
3. runs the handler (sync or async; an async one may take the Durable client);
4. answers its model with the route's success status, or its `Reply`, checked against the
   declared responses; an `ApiProblem` it raises as problem+json (triggers/api/problems.py);
   a `TransientError` (storage, a dependency) as 503 with `Retry-After`. An unexpected
   exception is logged and answered as a problem 500: the last resort, a bug to fix.

A route that must see its body exactly as sent (a webhook whose signature covers the raw
bytes) declares `raw_body=RawBody(schema=..., headers=(...))` instead of `request=`: the kit
checks only the size (413 over 1 MiB) and hands the bytes over as `call.raw`; the handler
verifies, parses and answers its own problems. `schema` and `headers` document the body and
the request headers the route reads in the OpenAPI document.

`Api.fallback(bp)` registers one catch-all function under the prefix: a known path with a
method it does not serve is 405 with `Allow`, an unknown path 404, both problem+json. (A
Functions route binds methods, and the host answers a bare 404 for any other.)

The declaration is kept: `Api.routes` is the route table the OpenAPI document is built from
(triggers/api/openapi.py), and a test checks it against what function_app registers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote, urlsplit

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.config import Settings, get_settings
from shared.errors import ConfigurationError, TransientError
from triggers.api.commands import (
    CommandIdReused,
    CommandLedger,
    CommandLedgerUnavailable,
    StoredReply,
    fingerprint,
)
from triggers.api.paging import CursorCodec, PageRequest, Paging, list_binding, page_request
from triggers.api.parsing import JsonBody, check_size, parse_body, parse_query
from triggers.api.problems import (
    PROBLEM_JSON,
    ApiProblem,
    Conflict,
    NotFound,
    Unavailable,
)
from triggers.api.replies import Reply, TextBody

log = logging.getLogger("cspflow.api")

B = TypeVar("B")
H = TypeVar("H", bound=Callable[..., Any])

JSON_MEDIA = "application/json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALL_METHODS = tuple(m.value for m in func.HttpMethod)  # what the fallback binds
FALLBACK = "api_fallback"
RETRY_AFTER_S = 5  # a 503's advice
_LITERAL = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PARAM = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Header:
    """A request header a raw-body route reads, for the OpenAPI document."""

    name: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class RawBody:
    """The body of a route that reads it as bytes (`call.raw`): what it documents. The kit
    checks the size only (413 over `MAX_BODY_BYTES`; `on_refused(status, detail)` hears of
    it, for a route that counts what it refuses); the handler does everything else."""

    schema: type[BaseModel]
    headers: tuple[Header, ...] = ()
    media_type: str = "application/json"
    on_refused: Callable[[int, str], None] | None = None


@dataclass(frozen=True)
class Route:
    """One operation: a method on a path below the prefix, as declared."""

    name: str  # the function's name and the operation id
    method: str
    path: str  # "orders/{order_id}"
    summary: str
    description: str
    responses: Mapping[int, type[BaseModel] | None]
    problems: frozenset[int]
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    paging: Paging | None = None
    command_id: str | None = None
    auth: func.AuthLevel = func.AuthLevel.FUNCTION
    tags: tuple[str, ...] = ()
    raw_body: RawBody | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.split("/"))

    @property
    def params(self) -> tuple[str, ...]:
        """The route values' names, in path order."""
        return tuple(m.group(1) for s in self.segments if (m := _PARAM.fullmatch(s)))

    @property
    def success(self) -> int:
        """The status a handler's plain model is answered with: the first 2xx declared."""
        return min(s for s in self.responses if 200 <= s < 300)

    def matches(self, segments: list[str]) -> bool:
        """Whether a request path (below the prefix, split and unquoted) is this route's."""
        if len(segments) != len(self.segments):
            return False
        return all(
            bool(actual) if _PARAM.fullmatch(mine) else actual.lower() == mine
            for mine, actual in zip(self.segments, segments, strict=True)
        )


@dataclass(frozen=True)
class Call(Generic[B]):
    """A request as the kit read it: `body` is the validated request model (None for a
    route without one), `query` the validated query model, `route_values` the path's
    `{name}` values, `page` the paging request of a list route, `raw` the body's bytes of a
    raw-body route."""

    req: func.HttpRequest
    route: Route
    body: B
    route_values: Mapping[str, str] = field(default_factory=dict)
    query: Any = None
    json: JsonBody | None = None
    paging: PageRequest | None = None
    prefix: str = "api"
    raw: bytes = b""

    @property
    def page(self) -> PageRequest:
        if self.paging is None:
            raise TypeError(f"{self.route.name} is not a paged route (declare paged=Paging())")
        return self.paging

    def url_for(self, *segments: str) -> str:
        """The absolute URL of a resource of this API: `call.url_for("orders", order_id)`
        (each segment quoted)."""
        origin = urlsplit(self.req.url)
        path = "/".join(quote(s, safe="") for s in segments)
        return f"{origin.scheme}://{origin.netloc}/{self.prefix}/{path}"


LedgerFactory = Callable[[], CommandLedger]


class Api:
    """A route table and the decorator that fills it. cspflow has one (`triggers.api.API`);
    tests make their own."""

    def __init__(
        self,
        *,
        title: str,
        version: str,
        prefix: str = "api",
        description: str = "",
        ledger: LedgerFactory | None = None,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.title = title
        self.version = version
        self.prefix = prefix.strip("/")
        self.description = description
        self.routes: list[Route] = []
        self._ledger_factory = ledger or _SettingsLedger()
        self._cursors = cursors or CursorCodec()
        self._document: dict[str, Any] | None = None

    # -- declaring -------------------------------------------------------------------------

    def route(
        self,
        bp: df.Blueprint,
        method: str,
        path: str,
        *,
        summary: str,
        responses: Mapping[int, type[BaseModel] | None],
        request: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        paged: Paging | None = None,
        command_id: str | None = None,
        problems: Iterable[int] = (),
        auth: func.AuthLevel = func.AuthLevel.FUNCTION,
        durable_client: bool = False,
        tags: Iterable[str] | None = None,
        name: str | None = None,
        raw_body: RawBody | None = None,
    ) -> Callable[[H], H]:
        """Register `handler(call: Call[Request] [, client]) -> Model | Reply` as the
        Functions HTTP trigger for `method path` and add it to the route table. The handler
        is returned unchanged."""

        def register(handler: H) -> H:
            route = self._declare(
                handler,
                method=method.upper(),
                path=path,
                summary=summary,
                responses=responses,
                request=request,
                query=query,
                paged=paged,
                command_id=command_id,
                problems=problems,
                auth=auth,
                durable_client=durable_client,
                tags=tags,
                name=name,
                raw_body=raw_body,
            )
            self._register(bp, route, handler, durable_client=durable_client)
            self.routes.append(route)
            self._document = None
            return handler

        return register

    def fallback(self, bp: df.Blueprint, name: str = FALLBACK) -> None:
        """Register the catch-all that answers 405 (with `Allow`) for a known path called
        with another method, and 404 for a path no route has. Anonymous: it runs no
        business logic, and a missing key on a wrong method should still hear 405."""

        def fallback(req: func.HttpRequest) -> func.HttpResponse:
            try:
                return problem_response(self._unrouted(req))
            except Exception:  # last resort; _unrouted only parses a URL
                log.exception("api fallback failed on %s %s", req.method, req.url)
                return problem_response(_internal())

        fallback.__name__ = fallback.__qualname__ = name
        bp.route(route="{*path}", methods=list(ALL_METHODS), auth_level=func.AuthLevel.ANONYMOUS)(
            fallback
        )

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the route table (built once)."""
        if self._document is None:
            from triggers.api.openapi import build_document

            self._document = build_document(self)
        return self._document

    def allowed(self, segments: list[str]) -> list[str]:
        """The methods the route table serves on a path (below the prefix)."""
        return sorted({r.method for r in self.routes if r.matches(segments)})

    def _declare(
        self,
        handler: Callable[..., Any],
        *,
        method: str,
        path: str,
        summary: str,
        responses: Mapping[int, type[BaseModel] | None],
        request: type[BaseModel] | None,
        query: type[BaseModel] | None,
        paged: Paging | None,
        command_id: str | None,
        problems: Iterable[int],
        auth: func.AuthLevel,
        durable_client: bool,
        tags: Iterable[str] | None,
        name: str | None,
        raw_body: RawBody | None = None,
    ) -> Route:
        fn_name = name or handler.__name__
        where = f"route {method} {path} ({fn_name})"
        if method not in METHODS:
            raise ValueError(f"{where}: the method is one of {', '.join(METHODS)}")
        segments = path.split("/")
        if path.startswith(self.prefix + "/") or not all(
            _LITERAL.fullmatch(s) or _PARAM.fullmatch(s) for s in segments
        ):
            raise ValueError(
                f"{where}: a path below /{self.prefix}/ of lowercase literal segments and "
                "{name} values (no constraints: the handler validates ids, 404 if unknown)"
            )
        if _NAME.fullmatch(fn_name) is None:
            raise ValueError(f"{where}: the function name must be an identifier")
        for other in self.routes:
            if other.name == fn_name:
                raise ValueError(f"{where}: the name is taken by {other.method} {other.path}")
            same_shape = [_PARAM.sub("{}", s) for s in other.segments] == [
                _PARAM.sub("{}", s) for s in segments
            ]
            if same_shape and other.method == method:
                raise ValueError(f"{where}: {other.name} already serves it")
        if not any(200 <= s < 300 for s in responses):
            raise ValueError(f"{where}: declare at least one 2xx response")
        if any(not 200 <= s < 400 for s in responses):
            raise ValueError(f"{where}: responses are 2xx/3xx; problems are declared by status")
        if (request is not None or raw_body is not None) and method not in ("POST", "PUT", "PATCH"):
            raise ValueError(f"{where}: only POST, PUT and PATCH take a body")
        if request is not None and raw_body is not None:
            raise ValueError(
                f"{where}: a body is read as a model (request=) or as bytes (raw_body=)"
            )
        if paged is not None and method != "GET":
            raise ValueError(f"{where}: only a GET lists")
        if command_id is not None:
            if request is None or command_id not in request.model_fields:
                raise ValueError(f"{where}: command_id names a field of the request model")
            if not inspect.iscoroutinefunction(handler):
                raise ValueError(f"{where}: a command's handler is async (it starts work)")
        if durable_client and not inspect.iscoroutinefunction(handler):
            raise ValueError(f"{where}: a handler that takes the Durable client is async")
        params = list(inspect.signature(handler).parameters)
        expected = ["call", "client"] if durable_client else ["call"]
        if params != expected:
            raise TypeError(f"{where}: the handler's parameters are ({', '.join(expected)})")
        # Any handler may meet a dependency that is down or settings that do not load: the
        # kit answers both as 503 (`_failed`), so every route documents it.
        kit_problems = {500, 503}
        if request is not None:
            kit_problems |= {400, 413, 415, 422}
        if raw_body is not None:
            kit_problems.add(413)
        if query is not None or paged is not None:
            kit_problems.add(400)
        if _PARAM.search(path):
            kit_problems.add(404)
        if command_id is not None:
            kit_problems.add(409)
        extra = set(problems)
        if any(not 400 <= s < 600 for s in extra):
            raise ValueError(f"{where}: problems are 4xx/5xx statuses")
        doc = inspect.getdoc(handler) or ""
        first_segment = segments[0].split(".")[0]
        return Route(
            name=fn_name,
            method=method,
            path=path,
            summary=summary,
            description=doc,
            responses=dict(responses),
            problems=frozenset(kit_problems | extra),
            request=request,
            query=query,
            paging=paged,
            command_id=command_id,
            auth=auth,
            tags=tuple(tags) if tags is not None else (first_segment,),
            raw_body=raw_body,
        )

    def _register(
        self,
        bp: df.Blueprint,
        route: Route,
        handler: Callable[..., Any],
        *,
        durable_client: bool,
    ) -> None:
        entry: Callable[..., Any]
        if durable_client:

            async def entry_with_client(req: func.HttpRequest, client: str) -> func.HttpResponse:
                return await self._serve_async(route, handler, req, (client,))

            entry = entry_with_client
        elif inspect.iscoroutinefunction(handler):

            async def async_entry(req: func.HttpRequest) -> func.HttpResponse:
                return await self._serve_async(route, handler, req, ())

            entry = async_entry
        else:

            def sync_entry(req: func.HttpRequest) -> func.HttpResponse:
                return self._serve_sync(route, handler, req)

            entry = sync_entry
        # The worker binds parameters by name and names the function after the callable.
        entry.__name__ = entry.__qualname__ = route.name
        entry.__doc__ = handler.__doc__
        target: Any = entry
        if durable_client:
            target = bp.durable_client_input(client_name="client")(target)
        bp.route(route=route.path, methods=[route.method], auth_level=route.auth)(target)

    # -- serving ---------------------------------------------------------------------------

    def _serve_sync(
        self, route: Route, handler: Callable[..., Any], req: func.HttpRequest
    ) -> func.HttpResponse:
        try:
            call = self._prepare(route, req)
            return self._respond(route, handler(call))
        except Exception as exc:
            return self._failed(route, req, exc)

    async def _serve_async(
        self,
        route: Route,
        handler: Callable[..., Awaitable[Any]],
        req: func.HttpRequest,
        extra: tuple[Any, ...],
    ) -> func.HttpResponse:
        try:
            call = self._prepare(route, req)
            if route.command_id is not None:
                return await self._command(route, handler, call, extra)
            return self._respond(route, await handler(call, *extra))
        except Exception as exc:
            return self._failed(route, req, exc)

    def _prepare(self, route: Route, req: func.HttpRequest) -> Call[Any]:
        query = parse_query(req, route.query) if route.query is not None else None
        paging = None
        if route.paging is not None:
            filters = query.model_dump(mode="json") if query is not None else {}
            binding = list_binding(route.name, filters)
            paging = page_request(dict(req.params), route.paging, binding, self._cursors)
        body: BaseModel | None = None
        json_body = None
        raw = b""
        if route.request is not None:
            body, json_body = parse_body(req, route.request)
        elif route.raw_body is not None:
            try:
                raw = check_size(req)
            except ApiProblem as problem:
                if route.raw_body.on_refused is not None:
                    route.raw_body.on_refused(problem.status, problem.detail)
                raise
        return Call(
            req=req,
            route=route,
            body=body,
            route_values=dict(req.route_params),
            query=query,
            json=json_body,
            paging=paging,
            prefix=self.prefix,
            raw=raw,
        )

    async def _command(
        self,
        route: Route,
        handler: Callable[..., Awaitable[Any]],
        call: Call[Any],
        extra: tuple[Any, ...],
    ) -> func.HttpResponse:
        assert route.command_id is not None and call.json is not None
        ledger = self._ledger()
        command_id = str(getattr(call.body, route.command_id))
        request_fp = fingerprint(call.route_values, call.json.document)
        try:
            claim = await asyncio.to_thread(ledger.claim, route.name, command_id, request_fp)
        except CommandIdReused:
            raise Conflict(
                "command_id_reused",
                f"{route.command_id} {command_id!r} was already used with a different request; "
                "a new command needs a new id",
                field=route.command_id,
            ) from None
        if claim.reply is not None:
            return replayed_response(claim.reply)
        try:
            result = await handler(call, *extra)
        except ApiProblem as problem:
            if problem.status < 500:  # refused: the client may fix the body and reuse the id
                await self._quietly(ledger.release, route.name, command_id, request_fp)
            raise
        reply = self._reply(route, result)
        response, text = encode_reply(reply)
        if 200 <= reply.status < 300:
            headers = {k: v for k, v in reply.headers.items() if k in ("Location", "Retry-After")}
            stored = StoredReply(status=reply.status, body=text, headers=headers)
            await self._quietly(ledger.record, route.name, command_id, request_fp, stored)
        return response

    async def _quietly(self, op: Callable[..., None], *args: Any) -> None:
        """A ledger write after the command's outcome is known: a failure is logged, not
        answered (the reply is still right; a repeat runs the idempotent handler again)."""
        try:
            await asyncio.to_thread(op, *args)
        except CommandLedgerUnavailable as exc:
            log.warning("command ledger: %s failed: %s", op.__name__, exc)

    def _ledger(self) -> CommandLedger:
        try:
            return self._ledger_factory()
        except ValidationError as exc:  # the settings do not load
            raise Unavailable(
                "misconfigured",
                "the API's settings are invalid; an operator must fix them",
                retry_after_s=RETRY_AFTER_S,
            ) from exc

    def _respond(self, route: Route, result: Any) -> func.HttpResponse:
        return encode_reply(self._reply(route, result))[0]

    def _reply(self, route: Route, result: Any) -> Reply:
        """The handler's result as a `Reply` of a declared status and model (a mismatch is a
        bug in the handler, raised)."""
        reply = result if isinstance(result, Reply) else Reply(route.success, result)
        if reply.status not in route.responses:
            raise TypeError(f"{route.name} answered {reply.status}, which it does not declare")
        declared = route.responses[reply.status]
        if declared is None:
            if reply.body is not None:
                raise TypeError(f"{route.name} declares no body for {reply.status}")
            return reply
        if not isinstance(reply.body, BaseModel):
            raise TypeError(f"{route.name} answered {reply.status} without its model")
        if not isinstance(reply.body, declared):  # e.g. a Page[Any] for a Page[Item]
            body = declared.model_validate(reply.body.model_dump(by_alias=True))
            reply = Reply(reply.status, body, reply.headers, reply.html)
        return reply

    def _failed(self, route: Route, req: func.HttpRequest, exc: Exception) -> func.HttpResponse:
        if isinstance(exc, ApiProblem):
            if exc.status not in route.problems:
                log.warning("%s answered %s, which it does not declare", route.name, exc.status)
            return problem_response(exc)
        if isinstance(exc, ConfigurationError) or (
            isinstance(exc, ValidationError) and exc.title == Settings.__name__
        ):  # a setting to fix (get_settings() raised), not the request
            return problem_response(
                Unavailable(
                    "misconfigured",
                    "the API's settings are invalid; an operator must fix them",
                    retry_after_s=RETRY_AFTER_S,
                )
            )
        if isinstance(exc, TransientError):
            log.warning("%s: %s: %s", route.name, type(exc).__name__, exc)
            return problem_response(
                Unavailable(
                    exc.code if exc.code != "transient" else "unavailable",
                    f"{exc}; retry (a command with the same id is safe to retry)",
                    retry_after_s=int(exc.retry_after_s or RETRY_AFTER_S),
                )
            )
        log.exception("%s failed on %s %s", route.name, req.method, req.url)
        return problem_response(_internal())

    def _unrouted(self, req: func.HttpRequest) -> ApiProblem:
        segments = [unquote(s) for s in urlsplit(req.url).path.strip("/").split("/")]
        if segments and segments[0].lower() == self.prefix.lower():
            segments = segments[1:]
        allowed = self.allowed(segments)
        shown = ("/" + "/".join([self.prefix, *segments]))[:200]
        if allowed:
            return ApiProblem(
                405,
                "method_not_allowed",
                f"{req.method.upper()} is not allowed on {shown}; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return NotFound(f"there is no route {shown}", code="no_route")


class _SettingsLedger:
    """The ledger on the app's own storage, made once per Settings."""

    def __init__(self) -> None:
        self._for: tuple[Settings, CommandLedger] | None = None

    def __call__(self) -> CommandLedger:
        settings = get_settings()
        if self._for is None or self._for[0] is not settings:
            self._for = (settings, CommandLedger.from_settings(settings))
        return self._for[1]


def encode_reply(reply: Reply) -> tuple[func.HttpResponse, str]:
    """The response for a reply, and its body text."""
    if reply.html is not None:
        headers = {
            **reply.headers,
            "Content-Security-Policy": "default-src 'none'; form-action 'self'",
        }
        page = func.HttpResponse(
            reply.html, status_code=reply.status, headers=headers, mimetype="text/html"
        )
        return page, reply.html
    if isinstance(reply.body, TextBody):
        return func.HttpResponse(
            reply.body.text,
            status_code=reply.status,
            headers=dict(reply.headers),
            mimetype=reply.body.media_type,
            charset="utf-8",
        ), reply.body.text
    text = reply.body.model_dump_json(by_alias=True) if reply.body is not None else ""
    response = func.HttpResponse(
        text,
        status_code=reply.status,
        headers=dict(reply.headers),
        mimetype=JSON_MEDIA if text else None,
    )
    return response, text


def replayed_response(stored: StoredReply) -> func.HttpResponse:
    """A command's recorded reply, marked as a replay."""
    return func.HttpResponse(
        stored.body,
        status_code=stored.status,
        headers={**stored.headers, "Idempotent-Replayed": "true"},
        mimetype=JSON_MEDIA if stored.body else None,
    )


def problem_response(problem: ApiProblem) -> func.HttpResponse:
    return func.HttpResponse(
        problem.document().model_dump_json(exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        mimetype=PROBLEM_JSON,
    )


def _internal() -> ApiProblem:
    return ApiProblem(500, "internal_error", "an unexpected error; it was logged")
