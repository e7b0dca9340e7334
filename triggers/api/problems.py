"""Problems: every error the API answers, as RFC 9457 problem+json.

    {"type": "urn:cspflow:problem:validation_failed", "title": "Unprocessable Content",
     "status": 422, "detail": "1 field refused", "code": "validation_failed",
     "errors": [{"field": "lines[0].quantity", "message": "Input should be greater than 0"}]}

`code` is the machine-readable reason a client branches on (`type` is the same reason as a
URI, as the RFC wants one); `errors` names each refused field by its path in the request
(`lines[0].quantity`, a query parameter such as `limit`, or `(body)` for the document as a
whole). A handler raises an `ApiProblem` (usually one of the subclasses below) and the route
kit (triggers/api/routes.py) answers it; nothing else ever builds an error response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:cspflow:problem:"
BODY = "(body)"  # the field name of the request document as a whole
MAX_ERRORS = 50  # a body with thousands of bad lines gets the first 50 named
MAX_MESSAGE = 300
# RFC 9110's reason phrases (Python's HTTPStatus still has some older ones).
TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class FieldError(BaseModel):
    """One refused input: where it is and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(description="Path in the request: `lines[0].quantity`, `limit`, `(body)`")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document. Some problems carry more members (health's
    `invalid_settings`), so unknown members are allowed."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = Field(description="`urn:cspflow:problem:<code>`")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(description="The reason, for a client to branch on")
    errors: list[FieldError] | None = Field(
        default=None, description="Each refused field, for 400 and 422"
    )


class ApiProblem(Exception):
    """Raise to answer a problem. `headers` are added to the response (`Allow`,
    `Retry-After`); `extra` adds members to the document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = tuple(errors[:MAX_ERRORS])
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def document(self) -> Problem:
        body: dict[str, Any] = {
            **self.extra,
            "type": TYPE_PREFIX + self.code,
            "title": title(self.status),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = [e.model_dump() for e in self.errors]
        return Problem.model_validate(body)


def title(status: int) -> str:
    return TITLES.get(status) or HTTPStatus(status).phrase


def field_error(field: str, message: str) -> FieldError:
    return FieldError(field=field, message=message[:MAX_MESSAGE])


class BadRequest(ApiProblem):
    """400: the request cannot be read (malformed JSON, a bad query parameter or cursor)."""

    def __init__(self, code: str, detail: str, *, field: str, message: str | None = None) -> None:
        super().__init__(400, code, detail, errors=[field_error(field, message or detail)])


class NotFound(ApiProblem):
    """404: no resource with that id (or no route at that path)."""

    def __init__(self, detail: str, *, field: str | None = None, code: str = "not_found") -> None:
        errors = [field_error(field, detail)] if field else []
        super().__init__(404, code, detail, errors=errors)


class Conflict(ApiProblem):
    """409: the resource's state does not allow this now, or a command id was reused with
    another body. `code` says which."""

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        errors = [field_error(field, detail)] if field else []
        super().__init__(409, code, detail, errors=errors)


class Refused(ApiProblem):
    """422: valid JSON that a business rule refuses; `code` names the rule."""

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        errors = [field_error(field, detail)] if field else []
        super().__init__(422, code, detail, errors=errors)


class Unavailable(ApiProblem):
    """503: something the API needs (storage, its configuration) is not there; retry later
    (the same command id is safe to retry)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        retry_after_s: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else {}
        super().__init__(503, code, detail, headers=headers, extra=extra)


def field_path(loc: Iterable[int | str], root: str = BODY) -> str:
    """pydantic's error location as the path a client reads: ("lines", 0, "quantity") ->
    `lines[0].quantity`; an empty location is the document itself (`root`)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or root


def field_errors(exc: ValidationError, root: str = BODY) -> list[FieldError]:
    """Each error pydantic found, by field path, in pydantic's order."""
    return [_field_error(err, root) for err in exc.errors(include_url=False, include_input=False)]


def _field_error(err: ErrorDetails, root: str) -> FieldError:
    return field_error(field_path(err["loc"], root), err["msg"])


def validation_failed(exc: ValidationError) -> ApiProblem:
    """422 for a body its model refuses, naming every refused field."""
    errors = field_errors(exc)
    fields = sorted({e.field for e in errors})
    detail = f"{len(fields)} field(s) refused: {', '.join(fields)}"
    return ApiProblem(422, "validation_failed", detail[:MAX_MESSAGE], errors=errors)
