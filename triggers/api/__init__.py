"""The API conventions kit: what every HTTP route under /api is declared with (docs/api.md).

- routes.py: `Api.route` declares a route once (Functions trigger + OpenAPI), `Call`, the
  request pipeline, and `Api.fallback` (404/405 for everything else under /api);
- problems.py: RFC 9457 problem+json and the problems a handler raises;
- parsing.py: size, content type, JSON and model checks of a request;
- paging.py: `limit` and the tamper-evident `next` cursor;
- commands.py: client-chosen command ids and the ledger that makes repeats answer alike;
- replies.py: `Reply` (202 + `Location`, 201), Durable's check-status reply;
- openapi.py: the OpenAPI 3.1 document of a route table.

`API` is cspflow's route table: every route module declares its routes on it.
"""

from triggers.api.commands import CommandId
from triggers.api.paging import Page, PageRequest, Paging
from triggers.api.problems import (
    ApiProblem,
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    Problem,
    Refused,
    Unavailable,
)
from triggers.api.replies import CsvBody, DurableCheckStatus, Reply, TextBody, check_status_reply
from triggers.api.routes import Api, Call, Header, RawBody, Route

VERSION = "0.1.0"

API = Api(
    title="cspflow",
    version=VERSION,
    description="The HTTP API of cspflow: conventions in docs/api.md. Every route needs a "
    "function key (`x-functions-key` header or `code` query parameter) unless it says "
    "otherwise.",
)

__all__ = [
    "API",
    "VERSION",
    "Api",
    "ApiProblem",
    "BadRequest",
    "Call",
    "CommandId",
    "Conflict",
    "CsvBody",
    "DurableCheckStatus",
    "FieldError",
    "Header",
    "NotFound",
    "Page",
    "PageRequest",
    "Paging",
    "Problem",
    "RawBody",
    "Refused",
    "Reply",
    "Route",
    "TextBody",
    "Unavailable",
    "check_status_reply",
]
