"""The route kit: what a declaration accepts, how answers are checked, and what a handler's
failure becomes (a problem, never a bare 500 unless it is a bug, and then a logged problem)."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from pydantic import ValidationError

from shared.config import get_settings, reset_settings
from shared.errors import ConfigurationError, TransientError
from shared.models import DomainModel
from tests.triggers.api.example_api import (
    ExampleClient,
    OrderAccepted,
    PlaceOrder,
    make_example_app,
    order_body,
)
from triggers.api import Api, Call, Paging, Reply
from triggers.api.routes import ALL_METHODS, FALLBACK


class Thing(DomainModel):
    name: str


def app_with(handler: Any, **route: Any) -> ExampleClient:
    api = Api(title="t", version="1")
    bp = df.Blueprint()
    declared = {"summary": "s", "responses": {200: Thing}, **route}
    api.route(bp, declared.pop("method", "GET"), declared.pop("path", "things"), **declared)(
        handler
    )
    api.fallback(bp)
    app = df.DFApp()
    app.register_functions(bp)
    return ExampleClient(app)


def test_a_model_is_answered_with_the_first_2xx_declared():
    def thing(call: Call[None]) -> Thing:
        return Thing(name="x")

    answer = app_with(thing, responses={201: Thing, 200: Thing}).get("/api/things")
    assert (answer.status, answer.json) == (200, {"name": "x"})
    assert answer.content_type == "application/json"


def test_an_unexpected_exception_is_a_logged_problem_500(caplog: pytest.LogCaptureFixture):
    def broken(call: Call[None]) -> Thing:
        raise KeyError("boom")

    with caplog.at_level(logging.ERROR, logger="cspflow.api"):
        answer = app_with(broken).get("/api/things")
    assert answer.status == 500
    assert answer.json["code"] == "internal_error"
    assert "boom" not in answer.text  # nothing internal leaks to the client
    assert "broken failed on GET" in caplog.text and "KeyError" in caplog.text


@pytest.mark.parametrize(
    "result",
    [
        Reply(204),  # a status it does not declare
        Reply(200),  # no body where a model is declared
        OrderAccepted(order_id="o", state="accepted"),  # another model
    ],
)
def test_an_answer_off_its_declaration_is_a_bug_answered_500(result: Any):
    def off(call: Call[None]) -> Any:
        return result

    assert app_with(off).get("/api/things").status == 500


def test_a_transient_failure_is_a_503_with_retry_after():
    class Busy(TransientError):
        code = "partner_center_busy"
        retry_after_s = 30

    async def busy(call: Call[None]) -> Thing:
        raise Busy("Partner Center is throttling")

    answer = app_with(busy).get("/api/things")
    assert answer.status == 503
    assert answer.json["code"] == "partner_center_busy"
    assert answer.headers["retry-after"] == "30"


def test_a_configuration_error_is_a_503_misconfigured():
    def misconfigured(call: Call[None]) -> Thing:
        raise ConfigurationError("CSPFLOW_STRIPE_API_KEY is not set")

    answer = app_with(misconfigured).get("/api/things")
    assert (answer.status, answer.json["code"]) == (503, "misconfigured")


def test_settings_a_handler_cannot_load_are_a_503_without_their_values(
    monkeypatch: pytest.MonkeyPatch,
):
    def reads_settings(call: Call[None]) -> Thing:
        get_settings()
        return Thing(name="x")

    monkeypatch.setenv("CSPFLOW_SMTP_PORT", "not-a-port")
    monkeypatch.setenv("CSPFLOW_STRIPE_API_KEY", "sk_test_do_not_show")
    reset_settings()
    answer = app_with(reads_settings).get("/api/things")
    assert (answer.status, answer.json["code"]) == (503, "misconfigured")
    assert "sk_test" not in answer.text and "not-a-port" not in answer.text


def test_settings_that_do_not_load_make_a_command_a_503():
    def no_settings() -> Any:
        raise ValidationError.from_exception_data("Settings", [])

    example = make_example_app(no_settings)
    answer = ExampleClient(example.app).post("/api/orders", json_body=order_body())
    assert (answer.status, answer.json["code"]) == (503, "misconfigured")


def test_url_for_quotes_each_segment():
    seen: list[str] = []

    def thing(call: Call[None]) -> Thing:
        seen.append(call.url_for("things", "a b/c"))
        return Thing(name="x")

    app_with(thing, path="things").get("/api/things")
    assert seen == ["http://127.0.0.1:7071/api/things/a%20b%2Fc"]


def test_page_on_a_route_that_is_not_paged_is_a_type_error():
    def thing(call: Call[None]) -> Thing:
        call.page  # noqa: B018
        return Thing(name="x")

    assert app_with(thing).get("/api/things").status == 500


def test_the_fallback_binds_every_method_anonymously():
    example = make_example_app()
    (fallback,) = [f for f in example.app.get_functions() if f.get_function_name() == FALLBACK]
    trigger = fallback.get_trigger()
    assert trigger.route == "{*path}"
    assert {str(getattr(m, "value", m)) for m in trigger.methods} == set(ALL_METHODS)
    assert trigger.auth_level == func.AuthLevel.ANONYMOUS


def test_the_fallback_matches_paths_case_insensitively_and_ignores_a_trailing_slash():
    client = ExampleClient(make_example_app().app)
    assert client.request("PUT", "/api/ORDERS/").headers["allow"] == "GET, POST"
    assert client.request("PUT", "/api/orders/o-1/cancel/extra").status == 404


def ok(call: Call[None]) -> Thing:
    return Thing(name="x")


async def ok_async(call: Call[Any]) -> Thing:
    return Thing(name="x")


async def with_client(call: Call[None], client: df.DurableOrchestrationClient) -> Thing:
    return Thing(name="x")


@pytest.mark.parametrize(
    ("method", "path", "handler", "kwargs", "message"),
    [
        ("TRACE", "things", ok, {}, "the method is one of"),
        ("GET", "/things", ok, {}, "lowercase literal segments"),
        ("GET", "api/things", ok, {}, "a path below /api/"),
        ("GET", "things/{id:int}", ok, {}, "no constraints"),
        ("GET", "Things", ok, {}, "lowercase"),
        ("GET", "things", ok, {"responses": {404: Thing}}, "at least one 2xx"),
        ("GET", "things", ok, {"responses": {200: Thing, 404: None}}, "problems are declared"),
        ("GET", "things", ok, {"request": Thing}, "only POST, PUT and PATCH take a body"),
        ("POST", "things", ok, {"paged": Paging()}, "only a GET lists"),
        ("POST", "things", ok_async, {"request": Thing, "command_id": "order_id"}, "names a field"),
        ("POST", "things", ok, {"request": PlaceOrder, "command_id": "order_id"}, "async"),
        ("GET", "things", ok, {"durable_client": True}, "is async"),
        ("GET", "things", with_client, {}, "parameters are (call)"),
        ("GET", "things", ok_async, {"durable_client": True}, "parameters are (call, client)"),
        ("GET", "things", ok, {"problems": (302,)}, "4xx/5xx"),
        ("GET", "things", ok, {"name": "not-an-identifier"}, "identifier"),
    ],
)
def test_a_declaration_the_kit_cannot_serve_is_refused_at_import(
    method: str, path: str, handler: Any, kwargs: dict[str, Any], message: str
):
    api = Api(title="t", version="1")
    declared = {"summary": "s", "responses": {200: Thing}, **kwargs}
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        api.route(df.Blueprint(), method, path, **declared)(handler)


def test_two_routes_cannot_serve_one_method_and_path_or_share_a_name():
    api = Api(title="t", version="1")
    bp = df.Blueprint()
    api.route(bp, "GET", "things/{thing_id}", summary="s", responses={200: Thing})(ok)
    with pytest.raises(ValueError, match="already serves it"):
        api.route(bp, "GET", "things/{other}", summary="s", responses={200: Thing}, name="b")(ok)
    with pytest.raises(ValueError, match="name is taken"):
        api.route(bp, "POST", "things", summary="s", responses={200: Thing})(ok)
    api.route(bp, "DELETE", "things/{thing_id}", summary="s", responses={200: Thing}, name="c")(ok)
    assert [r.name for r in api.routes] == ["ok", "c"]


# -- raw-body routes (webhooks) -------------------------------------------------------------


class Hook(DomainModel):
    id: str


def test_a_raw_body_route_gets_the_bytes_as_sent_and_413_over_1_mib():
    from triggers.api import Header, RawBody

    seen: list[bytes] = []
    refused: list[int] = []

    def hook(call: Call[None]) -> Thing:
        seen.append(call.raw)
        return Thing(name=str(len(call.raw)))

    body = RawBody(
        schema=Hook,
        headers=(Header("X-Sig", "the signature"), Header("X-Other", "maybe", required=False)),
        on_refused=lambda status, detail: refused.append(status),
    )
    client = app_with(hook, method="POST", path="hooks", raw_body=body, problems=(401,))
    sent = b'{"id": 1,  "not": "validated by the kit"}'
    answer = client.post("/api/hooks", body=sent, headers={"Content-Type": "text/plain"})
    assert (answer.status, answer.json) == (200, {"name": str(len(sent))})
    assert seen == [sent]  # no content type or JSON check: the handler decides
    too_big = client.post("/api/hooks", body=b"x" * (1024 * 1024 + 1))
    assert too_big.status == 413 and too_big.json["code"] == "body_too_large"
    assert refused == [413] and len(seen) == 1


def test_a_raw_body_route_documents_its_body_and_headers():
    from triggers.api import Header, RawBody

    api = Api(title="t", version="1")

    def hook(call: Call[None]) -> Thing:
        return Thing(name="x")

    api.route(
        df.Blueprint(),
        "POST",
        "hooks",
        summary="s",
        responses={200: Thing},
        raw_body=RawBody(schema=Hook, headers=(Header("X-Sig", "the signature"),)),
        problems=(401,),
        auth=func.AuthLevel.ANONYMOUS,
    )(hook)
    operation = api.document()["paths"]["/api/hooks"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Hook"
    }
    assert operation["parameters"] == [
        {
            "name": "X-Sig",
            "in": "header",
            "required": True,
            "description": "the signature",
            "schema": {"type": "string"},
        }
    ]
    assert set(operation["responses"]) == {"200", "401", "413", "500", "503"}
    assert operation["security"] == []


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"method": "GET"}, "only POST, PUT and PATCH take a body"),
        ({"method": "POST", "request": Thing}, "as a model .request=. or as bytes"),
    ],
)
def test_a_raw_body_route_is_refused_where_it_cannot_be_served(route: dict[str, Any], message: str):
    from triggers.api import RawBody

    def hook(call: Call[None]) -> Thing:
        return Thing(name="x")

    with pytest.raises(ValueError, match=message):
        app_with(hook, path="hooks", raw_body=RawBody(schema=Hook), **route)
