"""GET /api/openapi.json is true: every HTTP route function_app registers is in it, with its
method, operation id and auth, and every route it documents is registered. The one route
outside the document is the API's catch-all (404/405 problems)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func
import schemathesis
from schemathesis.core.result import Ok

from tests.app_functions import functions_by_name
from tests.triggers.api.example_api import make_example_app
from triggers.api import API
from triggers.api.routes import ALL_METHODS, FALLBACK
from triggers.openapi import openapi

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def registered() -> dict[tuple[str, str], tuple[str, str]]:
    """(path, method) -> (function name, auth level) of function_app's HTTP functions."""
    routes = {}
    for fn in functions_by_name().values():
        if not fn.is_http_function() or fn.get_function_name() == FALLBACK:
            continue
        trigger: Any = fn.get_trigger()
        for method in trigger.methods:
            key = (f"/{API.prefix}/{trigger.route}", str(getattr(method, "value", method)))
            assert key not in routes, f"{key} is registered twice"
            routes[key] = (str(fn.get_function_name()), str(trigger.auth_level.value).lower())
    return routes


def documented(document: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    routes = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                auth = "anonymous" if operation.get("security") == [] else "function"
                routes[(path, method.upper())] = (operation["operationId"], auth)
    return routes


def test_every_registered_route_is_documented_and_every_documented_route_registered():
    assert registered() == documented(API.document())
    assert {name for name, _ in registered().values()} >= {"health", "openapi"}


def test_the_served_document_is_the_route_tables():
    served = openapi(None).model_dump(mode="json")  # type: ignore[arg-type]
    assert served == json.loads(json.dumps(API.document()))


def test_the_catch_all_is_registered_for_every_method_below_the_prefix():
    trigger: Any = functions_by_name()[FALLBACK].get_trigger()
    assert trigger.route == "{*path}"
    assert {str(getattr(m, "value", m)) for m in trigger.methods} == set(ALL_METHODS)
    assert trigger.auth_level == func.AuthLevel.ANONYMOUS


def test_the_route_prefix_is_host_jsons():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == API.prefix


def test_the_documents_load_as_openapi_3_1_with_every_operation():
    for document in (API.document(), make_example_app().api.document()):
        schema = schemathesis.openapi.from_dict(document)
        operations = list(schema.get_all_operations())
        assert all(isinstance(op, Ok) for op in operations)
        labels = {op.ok().label for op in operations if isinstance(op, Ok)}
        assert labels == {f"{m} {p}" for p, m in documented(document)}


def test_each_operation_documents_what_the_kit_may_answer():
    paths = make_example_app().api.document()["paths"]
    place = paths["/api/orders"]["post"]
    assert set(place["responses"]) == {
        "202",
        "400",
        "401",
        "409",
        "413",
        "415",
        "422",
        "500",
        "503",
    }
    assert place["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PlaceOrder"
    }
    assert place["responses"]["202"]["headers"]["Location"]["required"] is True
    listing = paths["/api/orders"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["customer_id", "state", "limit", "next"]
    limit = listing["parameters"][2]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 3, 2)
    assert set(listing["responses"]) == {"200", "400", "401", "500", "503"}
    one = paths["/api/orders/{order_id}"]["get"]
    assert one["parameters"] == [
        {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert "404" in one["responses"]
    assert "409" in paths["/api/orders/{order_id}/cancel"]["post"]["responses"]


def test_the_field_paths_of_money_and_lines_are_in_the_schemas():
    schemas = make_example_app().api.document()["components"]["schemas"]
    line = schemas["OrderLine"]
    assert line["properties"]["quantity"] == {
        "exclusiveMinimum": 0,
        "maximum": 10000,
        "title": "Quantity",
        "type": "integer",
    }
    money = schemas["Money-Input"]  # as requests validate it (Money-Output: as answers read)
    assert money["properties"]["amount_minor"]["type"] == "integer"
    assert money["additionalProperties"] is False
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
