"""Malformed requests, each answered with a 4xx problem naming what was wrong, never a 5xx:
a table through the example API as the host would call it, then the parsing pieces."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.triggers.api.example_api import ExampleApp, ExampleClient, order_body
from triggers.api.parsing import (
    MAX_BODY_BYTES,
    canonical_json,
    parse_json,
    read_json,
)
from triggers.api.problems import ApiProblem, field_path

JSON = {"Content-Type": "application/json"}


def line(**changes: Any) -> dict[str, Any]:
    base = {
        "offer_id": "CFQ7TTC0LH18:0001",
        "quantity": 5,
        "unit_price": {"amount_minor": 1250, "currency": "EUR"},
    }
    return {**base, **changes}


def body_with(**changes: Any) -> str:
    return json.dumps({**order_body(), **changes})


MEDIA, TOO_LARGE, MALFORMED = "unsupported_media_type", "body_too_large", "malformed_json"
REFUSED, PARAMETER, CURSOR = "validation_failed", "invalid_parameter", "invalid_cursor"
BODY = "(body)"


def case(
    name: str,
    status: int,
    code: str,
    field: str | None = None,
    *,
    method: str = "POST",
    path: str = "/api/orders",
    **request: Any,
) -> Any:
    """One row: the request (ExampleClient.request's keywords), then the problem expected:
    its status, its code and the field its `errors` name (None: it names none)."""
    return pytest.param(method, path, request, status, code, field, id=name)


def price(amount: Any, currency: str = "EUR") -> dict[str, Any]:
    return line(unit_price={"amount_minor": amount, "currency": currency})


# fmt: off
CASES = [
    # -- the body is not JSON -------------------------------------------------------------
    case("no content type", 415, MEDIA, body=body_with()),
    case("text/plain", 415, MEDIA, body=body_with(), headers={"Content-Type": "text/plain"}),
    case("form", 415, MEDIA, body="a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}),
    case("latin-1 charset", 415, MEDIA, body=body_with(), headers={"Content-Type": "application/json; charset=iso-8859-1"}),
    case("over 1 MiB", 413, TOO_LARGE, body=" " * (MAX_BODY_BYTES + 1), headers=JSON),
    case("declared over 1 MiB", 413, TOO_LARGE, body="{}", headers={**JSON, "Content-Length": str(MAX_BODY_BYTES + 1)}),
    case("empty body", 400, MALFORMED, BODY, body="", headers=JSON),
    case("syntax error", 400, MALFORMED, BODY, body='{"order_id": "o-1",}', headers=JSON),
    case("truncated", 400, MALFORMED, BODY, body=body_with()[:-5], headers=JSON),
    case("not UTF-8", 400, MALFORMED, BODY, body=b'{"customer_id": "\xff"}', headers=JSON),
    case("NaN", 400, MALFORMED, BODY, body='{"order_id": NaN}', headers=JSON),
    case("Infinity", 400, MALFORMED, BODY, body='{"order_id": -Infinity}', headers=JSON),
    case("duplicate key", 400, MALFORMED, "order_id", body='{"order_id": "a", "order_id": "b"}', headers=JSON),
    case("nested too deeply", 400, MALFORMED, BODY, body="[" * 100_000 + "]" * 100_000, headers=JSON),
    case("lone surrogate", 400, MALFORMED, BODY, body='{"customer_id": "\\ud800"}', headers=JSON),
    case("5000-digit number", 400, MALFORMED, BODY, body='{"order_id": ' + "9" * 5000 + "}", headers=JSON),
    # -- JSON the model refuses -----------------------------------------------------------
    case("an array", 422, REFUSED, BODY, json_body=[order_body()]),
    case("a string", 422, REFUSED, BODY, json_body="order"),
    case("missing field", 422, REFUSED, "customer_id", json_body={k: v for k, v in order_body().items() if k != "customer_id"}),
    case("unknown field", 422, REFUSED, "colour", json_body=order_body(colour="blue")),
    case("zero quantity", 422, REFUSED, "lines[0].quantity", json_body=order_body(quantity=0)),
    case("quantity over the limit", 422, REFUSED, "lines[0].quantity", json_body=order_body(quantity=10_001)),
    case("quantity as a fraction", 422, REFUSED, "lines[0].quantity", json_body=order_body(lines=[line(quantity=1.5)])),
    case("amount as a float", 422, REFUSED, "lines[0].unit_price.amount_minor", json_body=order_body(lines=[price(12.5)])),
    case("amount as a string", 422, REFUSED, "lines[0].unit_price.amount_minor", json_body=order_body(lines=[price("1250")])),
    case("unknown currency", 422, REFUSED, "lines[1].unit_price.currency", json_body=order_body(lines=[line(), price(1, "EUD")])),
    case("no lines", 422, REFUSED, "lines", json_body=order_body(lines=[])),
    case("a line not an object", 422, REFUSED, "lines[1]", json_body=order_body(lines=[line(), 7])),
    case("order id with a slash", 422, REFUSED, "order_id", json_body=order_body(order_id="a/b")),
    case("order id too long", 422, REFUSED, "order_id", json_body=order_body(order_id="o" * 101)),
    case("order id a number", 422, REFUSED, "order_id", json_body={**order_body(), "order_id": 1001}),
    # -- a business rule refuses ----------------------------------------------------------
    case("mixed currencies", 422, "mixed_currencies", "lines[1].unit_price.currency", json_body=order_body(lines=[line(), price(1, "USD")])),
    # -- query parameters -----------------------------------------------------------------
    case("limit zero", 400, PARAMETER, "limit", method="GET", params={"limit": "0"}),
    case("limit over the max", 400, PARAMETER, "limit", method="GET", params={"limit": "4"}),
    case("limit not a number", 400, PARAMETER, "limit", method="GET", params={"limit": "ten"}),
    case("limit negative", 400, PARAMETER, "limit", method="GET", params={"limit": "-1"}),
    case("limit huge", 400, PARAMETER, "limit", method="GET", params={"limit": "9" * 40}),
    case("next garbage", 400, CURSOR, "next", method="GET", params={"next": "not a cursor"}),
    case("next forged", 400, CURSOR, "next", method="GET", params={"next": "Im8tMSI.AAAAAAAAAAAAAAAAAAAAAA"}),
    case("next too long", 400, CURSOR, "next", method="GET", params={"next": "a" * 5000}),
    case("unknown state filter", 400, PARAMETER, "state", method="GET", params={"state": "lost"}),
    case("filter too long", 400, PARAMETER, "customer_id", method="GET", params={"customer_id": "c" * 101}),
    # -- ids, paths and methods -----------------------------------------------------------
    case("unknown id", 404, "not_found", "order_id", method="GET", path="/api/orders/o-404"),
    case("unknown id, odd characters", 404, "not_found", "order_id", method="GET", path="/api/orders/%E2%9C%93%20%2F"),
    case("cancel an unknown order", 404, "not_found", "order_id", path="/api/orders/o-404/cancel"),
    case("unknown path", 404, "no_route", method="GET", path="/api/invoices"),
    case("wrong method on a list", 405, "method_not_allowed", method="PUT", json_body=order_body()),
    case("wrong method on a resource", 405, "method_not_allowed", method="DELETE", path="/api/orders/o-1"),
]
# fmt: on


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code", "field"), CASES)
def test_a_malformed_request_is_a_4xx_problem_naming_what_was_wrong(
    client: ExampleClient,
    example: ExampleApp,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
):
    answer = client.request(method, path, **kwargs)
    assert answer.status == status, answer.text
    assert answer.content_type == "application/problem+json"
    problem = answer.json
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:cspflow:problem:{code}"
    assert problem["title"] and problem["detail"]
    fields = [e["field"] for e in problem.get("errors", [])]
    if field is None:
        assert fields == []
    else:
        assert field in fields, problem
    assert not example.starts  # nothing was started


def test_a_syntax_error_says_where():
    with pytest.raises(ApiProblem) as caught:
        parse_json(b'{\n  "a": 1,\n  "b": }')
    assert caught.value.detail == "Expecting value at line 3 column 8"


def test_405_lists_the_methods_of_the_path(client: ExampleClient):
    assert client.request("PATCH", "/api/orders").headers["allow"] == "GET, POST"
    assert client.request("DELETE", "/api/orders/o-1").headers["allow"] == "GET"
    for method in ("HEAD", "OPTIONS"):
        assert client.request(method, "/api/orders/o-1/cancel").headers["allow"] == "POST"


def test_a_refused_model_names_every_field_in_order(client: ExampleClient):
    body = order_body(order_id="", lines=[line(quantity=0), line(offer_id="")])
    problem = client.post("/api/orders", json_body=body).json
    assert [e["field"] for e in problem["errors"]] == [
        "order_id",
        "lines[0].quantity",
        "lines[1].offer_id",
    ]
    assert problem["detail"] == "3 field(s) refused: lines[0].quantity, lines[1].offer_id, order_id"
    assert "input" not in json.dumps(problem["errors"])  # the refused values are not echoed


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
        "application/problem+json",
        "application/merge-patch+json",
    ],
)
def test_json_media_types_are_accepted(content_type: str):
    req = func.HttpRequest(
        "POST", "http://h/api/x", headers={"Content-Type": content_type}, body=b'{"a": 1}'
    )
    assert read_json(req).document == {"a": 1}


def test_a_byte_order_mark_is_ignored():
    assert parse_json(b'\xef\xbb\xbf{"a": 1}').document == {"a": 1}


def test_the_fingerprint_ignores_key_order_and_whitespace_only():
    a = parse_json(b'{"b": [1, 2], "a": {"y": "\\u00e9", "x": null}}')
    b = parse_json('{"a":{"x":null,"y":"é"},"b":[1,2]}'.encode())
    c = parse_json(b'{"a": {"x": null, "y": "e"}, "b": [1, 2]}')
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert canonical_json(a.document) == '{"a":{"x":null,"y":"é"},"b":[1,2]}'.encode()


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), "(body)"),
        (("order_id",), "order_id"),
        (("lines", 0, "quantity"), "lines[0].quantity"),
        (("lines", 2), "lines[2]"),
        (("matrix", 0, 1, "x"), "matrix[0][1].x"),
        (("lines", 0, "unit_price", "currency"), "lines[0].unit_price.currency"),
    ],
)
def test_field_paths_read_like_the_json(loc: tuple[int | str, ...], path: str):
    assert field_path(loc) == path


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda doc: json.dumps(doc).encode()),
        st.builds(lambda q: json.dumps(order_body(quantity=q)).encode(), st.integers()),
    ),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "", "application/json; charset=latin-1"]
    ),
)
def test_no_body_gets_a_5xx(client: ExampleClient, body: bytes, content_type: str):
    headers = {"Content-Type": content_type} if content_type else {}
    # A valid order reaches the ledger (Azurite): the first is accepted, the others reuse its
    # id with another quantity (409) or repeat it (202).
    answer = client.post("/api/orders", body=body, headers=headers)
    assert answer.status < 500, answer.text
    if answer.status >= 400:
        assert answer.content_type == "application/problem+json"
