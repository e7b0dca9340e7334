"""The OpenAPI 3.1 document, built from an `Api`'s route table and its pydantic models.

Paths are the full paths clients call (`/api/orders/{order_id}`); schemas are the models'
JSON Schemas (2020-12, as OpenAPI 3.1 uses) under `components/schemas`: request and query
models as they validate, response models as they serialise. Every operation lists what the
kit may answer besides its declared responses: the problem statuses its features imply
(400/413/415/422 with a body, 400 with a query or paging, 404 with a route value, 409/503 for
a command, 500 always, as the last resort) and 401 when it needs a function key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import azure.functions as func
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from triggers.api.paging import MAX_CURSOR_CHARS
from triggers.api.problems import PROBLEM_JSON, Problem, title
from triggers.api.replies import TextBody

if TYPE_CHECKING:
    from triggers.api.routes import Api, Route

REF = "#/components/schemas/{model}"
JSON_MEDIA = "application/json"
SUCCESS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}
PROBLEM_MEANING = {
    400: "The request cannot be read: malformed JSON, or a query parameter refused "
    "(`errors` names it)",
    401: "A webhook whose signature is missing, wrong or stale (no function key is involved)",
    404: "No resource with that id, or no such route",
    405: "The path exists, not with this method (`Allow` lists its methods)",
    409: "A command id reused with a different request, or the resource's state forbids this",
    413: "The body is over 1 MiB",
    415: "The body is not `application/json` (UTF-8)",
    422: "Valid JSON the model or a business rule refuses (`code`; `errors` names the fields)",
    500: "An unexpected error (logged); never the answer to an input",
    503: "A dependency (storage, the settings) is not available; retry after `Retry-After` "
    "(a command with the same id is safe to retry)",
}
SECURITY_SCHEMES = {
    "functionKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
        "description": "A function key of the Function app",
    },
    "functionKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "code",
        "description": "The same key as a query parameter",
    },
}


def build_document(api: Api) -> dict[str, Any]:
    refs, schemas = _schemas(api.routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        path = f"/{api.prefix}/{route.path}"
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, refs, schemas)
    statuses = sorted({s for r in api.routes for s in r.problems} | {405})
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": api.title, "version": api.version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": {
                **{f"Problem{s}": _problem_response(s, refs) for s in statuses},
                "Unauthorized": {
                    "description": "No valid function key (the Functions host answers, "
                    "without a body)"
                },
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{name: []} for name in SECURITY_SCHEMES],
    }
    if api.description:
        document["info"]["description"] = api.description
    return document


Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]  # (model, mode) -> {"$ref": ...}


def _schemas(routes: list[Route]) -> tuple[Refs, dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for route in routes:
        raw = route.raw_body.schema if route.raw_body is not None else None
        for model in (route.request, route.query, raw):
            if model is not None:
                wanted.append((model, "validation"))
        for model in route.responses.values():
            if model is not None:
                wanted.append((model, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=REF)
    return refs, dict(sorted(top.get("$defs", {}).items()))


def _ref(refs: Refs, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    return dict(refs[(model, mode)])


def _operation(route: Route, refs: Refs, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": list(route.tags),
    }
    if route.description:
        operation["description"] = route.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.params
    ]
    if route.raw_body is not None:
        parameters += [
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": {"type": "string"},
            }
            for header in route.raw_body.headers
        ]
    if route.query is not None:
        parameters += _query_parameters(_ref(refs, route.query, "validation"), schemas)
    if route.paging is not None:
        parameters += [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Items per page, 1 to {route.paging.max_limit}",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": route.paging.max_limit,
                    "default": route.paging.default_limit,
                },
            },
            {
                "name": "next",
                "in": "query",
                "required": False,
                "description": "The previous page's `next`, as it was (opaque)",
                "schema": {"type": "string", "maxLength": MAX_CURSOR_CHARS},
            },
        ]
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON_MEDIA: {"schema": _ref(refs, route.request, "validation")}},
        }
    elif route.raw_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                route.raw_body.media_type: {
                    "schema": _ref(refs, route.raw_body.schema, "validation")
                }
            },
        }
    responses: dict[str, Any] = {}
    for status, model in sorted(route.responses.items()):
        responses[str(status)] = _success_response(status, model, refs)
    for status in sorted(route.problems):
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    if route.auth != func.AuthLevel.ANONYMOUS:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    else:
        operation["security"] = []
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _query_parameters(ref: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schemas[ref["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _success_response(status: int, model: type[BaseModel] | None, refs: Refs) -> dict[str, Any]:
    response: dict[str, Any] = {"description": SUCCESS.get(status, str(status))}
    if model is not None and issubclass(model, TextBody):
        response["content"] = {model.media_type: {"schema": {"type": "string"}}}
    elif model is not None:
        response["content"] = {JSON_MEDIA: {"schema": _ref(refs, model, "serialization")}}
    if status in (201, 202):
        response["headers"] = {
            "Location": {
                "required": True,
                "description": "The resource (201) or its status resource to poll (202)",
                "schema": {"type": "string"},
            }
        }
    if status == 202:
        response["headers"]["Retry-After"] = _retry_after("Seconds to wait before polling")
    return response


def _problem_response(status: int, refs: Refs) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{title(status)}: {PROBLEM_MEANING.get(status, 'a problem')}",
        "content": {PROBLEM_JSON: {"schema": _ref(refs, Problem, "serialization")}},
    }
    if status == 405:
        response["headers"] = {
            "Allow": {
                "required": True,
                "description": "The path's methods",
                "schema": {"type": "string"},
            }
        }
    if status == 503:
        response["headers"] = {"Retry-After": _retry_after("Seconds to wait before retrying")}
    return response


def _retry_after(description: str) -> dict[str, Any]:
    return {
        "required": False,
        "description": description,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
