"""What every sandbox handler shares: the context, request keys, JSON in and out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from sandbox.common.clock import Clock
from sandbox.partner_center.auth import Authority, Principal
from sandbox.partner_center.context import Ctx
from sandbox.partner_center.errors import invalid
from sandbox.partner_center.faults import Throttle

JSON_TYPE = "application/json"
MAX_BODY = 1024 * 1024


@dataclass
class Context:
    pc: Ctx
    authority: Authority
    throttle: Throttle
    clock: Clock
    signing_cert_der: bytes
    origin: str = ""
    export_retry_after_ms: int = 200

    def now(self) -> datetime:
        return self.clock.now()


CONTEXT = web.AppKey("context", Context)
PRINCIPAL = web.RequestKey("principal", Principal)


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


BACKGROUND = web.AppKey("background", set)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type=JSON_TYPE,
        headers=headers,
    )


async def read_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise invalid("body", "is larger than 1 MiB")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise invalid("body", "is not valid JSON") from None
    if not isinstance(value, dict):
        raise invalid("body", "must be a JSON object")
    return value
