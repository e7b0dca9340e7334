"""`python -m devhost start --cors ...` answers browsers as `func start --cors ...` does: the
CORS middleware before every route (rules in test_http_cors.py), on a real host process."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.devhost.host_process import FRONT_APPS, HostProcess, app_copy, running_host, start_host

pytestmark = pytest.mark.slow

SHOP = "http://localhost:3000"
ADMIN = "http://localhost:4000"


def web_app(where: Path, host_settings: dict[str, object] | None = None) -> Path:
    app = app_copy(FRONT_APPS / "web", where / "app", {"HUB": "CorsHub"})
    if host_settings is not None:
        settings = json.loads((app / "local.settings.json").read_text())
        settings["Host"] = host_settings
        (app / "local.settings.json").write_text(json.dumps(settings))
    return app


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = web_app(tmp_path_factory.mktemp("cors"))
    with running_host(app, "--cors", f"{SHOP},{ADMIN}", "--cors-credentials") as running:
        yield running


def test_a_preflight_is_answered_204_before_routing_with_the_requested_method_and_headers(host):
    # POST /api/orders/1 has no function for POST; the middleware answers first anyway.
    resp = requests.options(
        f"{host.url}/api/orders/1",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-functions-key",
        },
        timeout=10,
    )
    assert resp.status_code == 204
    assert resp.content == b""
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP
    assert resp.headers["Access-Control-Allow-Methods"] == "POST"
    assert resp.headers["Access-Control-Allow-Headers"] == "content-type,x-functions-key"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert resp.headers["Vary"] == "Origin"


def test_a_preflight_from_an_unlisted_origin_gets_no_cors_headers(host):
    resp = requests.options(
        f"{host.url}/api/hello/Ada",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert resp.status_code == 204
    assert not any(h.lower().startswith("access-control-") for h in resp.headers)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/hello/Ada", 200),
        ("/api/nothing-here", 404),
        ("/api/boom", 500),
        ("/runtime/webhooks/durabletask/instances/", 200),
    ],
)
def test_every_answer_to_a_listed_origin_carries_the_cors_headers(host, path, status):
    resp = requests.get(f"{host.url}{path}", headers={"Origin": ADMIN}, timeout=10)
    assert resp.status_code == status
    assert resp.headers["Access-Control-Allow-Origin"] == ADMIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"


def test_requests_without_an_origin_or_from_other_origins_are_served_without_cors_headers(host):
    plain = requests.get(f"{host.url}/api/hello/Ada", timeout=10)
    other = requests.get(
        f"{host.url}/api/hello/Ada", headers={"Origin": "http://evil.test"}, timeout=10
    )
    for resp in (plain, other):
        assert (resp.status_code, resp.text) == (200, "Hello, Ada")
        assert "Access-Control-Allow-Origin" not in resp.headers


def test_host_cors_in_local_settings_is_the_default(tmp_path):
    app = web_app(tmp_path, {"CORS": "*"})
    with running_host(app) as running:
        resp = requests.get(f"{running.url}/api/hello/Ada", headers={"Origin": SHOP}, timeout=10)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in resp.headers


def test_without_cors_an_options_request_is_routed_like_any_other(tmp_path):
    app = web_app(tmp_path)
    with running_host(app) as running:
        resp = requests.options(
            f"{running.url}/api/hello/Ada",
            headers={"Origin": SHOP, "Access-Control-Request-Method": "GET"},
            timeout=10,
        )
    assert resp.status_code == 404  # hello is GET only
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_any_origin_with_credentials_stops_the_start_with_what_to_change(tmp_path):
    host = start_host(web_app(tmp_path), "--cors", "*", "--cors-credentials")
    assert host.process.wait(timeout=30) == 1
    assert "cannot be combined with --cors-credentials" in host.log()
