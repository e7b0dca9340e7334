"""CORS as `func start --cors` applies it, in front of every route.

Core Tools (`Actions/HostActions/Startup.cs`) builds one ASP.NET Core policy,
`WithOrigins(origins).AllowAnyHeader().AllowAnyMethod()` plus `AllowCredentials()` with
`--cors-credentials`, and puts the CORS middleware before everything else. This module is that
middleware's behaviour (`CorsMiddleware` + `CorsService` of ASP.NET Core):

- A request without an `Origin` header is not a CORS request: nothing changes.
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered by the middleware
  itself, 204 with no body, whatever route it names; its CORS headers are there only when
  the origin is allowed. It echoes the requested method and headers (any method, any header).
- Any other request goes on to its route; when the origin is allowed, the response (404s and
  500s included) carries `Access-Control-Allow-Origin`: `*` when the policy is the single
  origin `*`, else the request's own origin, and `Vary: Origin` when the policy lists more than
  one origin. `Access-Control-Allow-Credentials: true` with `--cors-credentials`.

Written here rather than taken from aiohttp-cors: that library is configured per route and
answers preflights only for routes it knows, while the Functions host answers every
preflight before routing, with ASP.NET's exact headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

ANY_ORIGIN = "*"


class CorsConfigError(ValueError):
    """A CORS setting ASP.NET Core refuses; the message says what to change."""


@dataclass(frozen=True)
class CorsPolicy:
    origins: tuple[str, ...]
    credentials: bool = False

    @classmethod
    def parse(cls, origins: str | None, credentials: bool = False) -> CorsPolicy | None:
        """`--cors` / local.settings.json `Host.CORS` (comma separated, no spaces), or None
        when it names no origin. Origins are lower-cased as `WithOrigins` normalises them."""
        items = tuple(o.lower() for o in (origins or "").split(",") if o)
        if not items:
            return None
        policy = cls(items, credentials)
        if policy.any_origin and credentials:
            # ASP.NET Core throws on every CORS request with this policy (a 500 each time);
            # refusing to start says it once, up front.
            raise CorsConfigError(
                "CORS: the origin '*' cannot be combined with --cors-credentials (the CORS "
                "protocol forbids it); list the origins instead, e.g. --cors http://localhost:3000"
            )
        return policy

    @property
    def any_origin(self) -> bool:
        return self.origins == (ANY_ORIGIN,)

    def allows(self, origin: str) -> bool:
        return bool(origin) and (self.any_origin or origin in self.origins)

    def headers(self, request: Mapping[str, str], preflight: bool) -> dict[str, str]:
        """The CORS response headers for a request with these headers (none when its origin
        is not allowed)."""
        origin = request.get("Origin")
        if origin is None or not self.allows(origin):
            return {}
        out = {"Access-Control-Allow-Origin": ANY_ORIGIN if self.any_origin else origin}
        if self.credentials:
            out["Access-Control-Allow-Credentials"] = "true"
        if preflight:
            wanted = request.get("Access-Control-Request-Headers") or ""
            names = [h.strip() for h in wanted.split(",") if h.strip()]
            if names:
                out["Access-Control-Allow-Headers"] = ",".join(names)
            method = request.get("Access-Control-Request-Method") or ""
            if method:
                out["Access-Control-Allow-Methods"] = method
        vary = self.credentials if self.any_origin else len(self.origins) > 1
        if vary:
            out["Vary"] = "Origin"
        return out


def is_preflight(request: web.Request) -> bool:
    return (
        request.method.upper() == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    )


def middleware(policy: CorsPolicy) -> Middleware:
    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "Origin" not in request.headers:
            return await handler(request)
        if is_preflight(request):
            return web.Response(status=204, headers=policy.headers(request.headers, preflight=True))
        extra = policy.headers(request.headers, preflight=False)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _add(exc, extra)
            raise
        _add(response, extra)
        return response

    return cors


def _add(response: web.StreamResponse, extra: dict[str, str]) -> None:
    for name, value in extra.items():
        if name == "Vary":
            response.headers.add(name, value)  # appended, as ASP.NET does
        else:
            response.headers[name] = value
