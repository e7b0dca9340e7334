"""Reading a request: its size, its content type, its JSON, its models.

Every failure is an `ApiProblem` naming what was wrong, never an exception of the parser:
- 413 a body over 1 MiB (by `Content-Length` or by what arrived);
- 415 a body route called without `Content-Type: application/json` (or `application/*+json`;
  a charset other than UTF-8 too);
- 400 a body that is not JSON: not UTF-8, a syntax error (with line and column), `NaN` or
  `Infinity`, a key given twice in one object, a number or nesting too big to read, a
  string that is not Unicode (a lone surrogate);
- 422 JSON that the route's model refuses, each refused field by its path;
- 400 a query parameter its model refuses, naming the parameter.

`canonical_json` is the one serialisation whose bytes identify a document: keys sorted, no
insignificant whitespace, UTF-8. Command fingerprints and cursor bindings hash it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from triggers.api.problems import (
    BODY,
    ApiProblem,
    BadRequest,
    field_errors,
    validation_failed,
)

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 1024 * 1024
JSON = "application/json"


@dataclass(frozen=True)
class JsonBody:
    """A body read as JSON: its text, the parsed document and its fingerprint."""

    text: str
    document: Any
    fingerprint: str


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def check_size(req: func.HttpRequest) -> bytes:
    """The body, or 413 when it is over `MAX_BODY_BYTES`."""
    declared = (req.headers.get("content-length") or "").strip()
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise _too_large()
    return body


def _too_large() -> ApiProblem:
    return ApiProblem(
        413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes (1 MiB), the API's limit"
    )


def require_json_content_type(req: func.HttpRequest) -> None:
    """415 unless the request says its body is JSON in UTF-8."""
    header = req.headers.get("content-type") or ""
    media, _, params = header.partition(";")
    media = media.strip().lower()
    if not (media == JSON or (media.startswith("application/") and media.endswith("+json"))):
        shown = media or "no Content-Type"
        raise ApiProblem(415, "unsupported_media_type", f"send {JSON} (got {shown})")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise ApiProblem(415, "unsupported_media_type", f"send UTF-8 JSON (got {charset!r})")


def read_json(req: func.HttpRequest) -> JsonBody:
    """The body as JSON (size, content type and syntax checked)."""
    body = check_size(req)
    require_json_content_type(req)
    return parse_json(body)


def parse_json(body: bytes) -> JsonBody:
    if not body:
        raise _malformed("the body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"the body is not UTF-8 (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")  # RFC 8259 lets a parser ignore a byte order mark
    try:
        document = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise _malformed(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _DuplicateKey as exc:
        raise BadRequest(
            "malformed_json",
            f"the key {exc.key!r} appears twice in one object",
            field=exc.key,
        ) from None
    except RecursionError:
        raise _malformed("the document is nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, a number with too many digits
        raise _malformed(str(exc)) from None
    try:
        canonical = canonical_json(document)
    except (UnicodeEncodeError, RecursionError):
        raise _malformed("a string is not valid Unicode (a lone surrogate)") from None
    return JsonBody(text, document, hashlib.sha256(canonical).hexdigest())


def parse_body(req: func.HttpRequest, model: type[M]) -> tuple[M, JsonBody]:
    """The body validated into `model`: 413/415/400 as `read_json`, 422 naming each field
    the model refuses."""
    body = read_json(req)
    return validate_body(body, model), body


def validate_body(body: JsonBody, model: type[M]) -> M:
    try:
        return model.model_validate_json(body.text)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            # json.loads read it but pydantic's parser does not (nesting beyond its limit).
            raise _malformed(exc.errors()[0]["msg"]) from None
        raise validation_failed(exc) from None
    except RecursionError:
        raise _malformed("the document is nested too deeply") from None


def parse_query(req: func.HttpRequest, model: type[M]) -> M:
    """The query parameters `model` declares, validated (others, such as the function key's
    `code`, are ignored); 400 naming each parameter refused."""
    names = {f.alias or name for name, f in model.model_fields.items()}
    given = {k: v for k, v in req.params.items() if k in names}
    try:
        return model.model_validate_strings(given)
    except ValidationError as exc:
        errors = field_errors(exc, root="(query)")
        detail = "query parameter(s) refused: " + ", ".join(sorted({e.field for e in errors}))
        raise ApiProblem(400, "invalid_parameter", detail, errors=errors) from None


def canonical_json(document: Any) -> bytes:
    """The document's canonical bytes: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _malformed(detail: str) -> BadRequest:
    return BadRequest("malformed_json", detail, field=BODY)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result
