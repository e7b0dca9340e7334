"""The HTTP front of `python -m devhost start`: routing, requests and responses, errors, auth."""

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from tests.devhost.host_process import (
    FRONT_APPS,
    HostProcess,
    app_copy,
    running_host,
    start_host,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = app_copy(FRONT_APPS / "web", tmp_path_factory.mktemp("web") / "app", {"HUB": "FrontHub"})
    with running_host(app) as running:
        yield running


def test_the_banner_lists_each_http_function_with_its_url(host):
    out = "\n".join(host.stdout)
    assert f"hello: [GET] {host.url}/api/hello/{{name:alpha}}" in out
    assert "chain: orchestrationTrigger" in out
    assert "Task hub FrontHub" in out  # %HUB% resolved from local.settings.json Values


def test_a_str_return_is_a_200_text_response(host):
    resp = requests.get(f"{host.url}/api/hello/Ada", timeout=10)
    assert resp.status_code == 200
    assert resp.text == "Hello, Ada"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"


def test_the_request_carries_route_values_query_headers_and_the_full_url(host):
    resp = requests.get(
        f"{host.url}/api/orders/42?expand=lines&tag=a&tag=b",
        headers={"X-Custom": "yes"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.headers["x-order"] == "42"
    assert resp.json() == {
        "route": {"id": "42"},
        "params": {"expand": "lines", "tag": "a,b"},
        "method": "GET",
        "url": f"{host.url}/api/orders/42?expand=lines&tag=a&tag=b",
        "custom": "yes",
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        # ASP.NET Core routing precedence: literal segments before parameters.
        ("GET", "/api/orders/new", 200, "the literal route wins"),
        # {id:int} takes GET only; other methods and non-integers fall to {slug}.
        ("POST", "/api/orders/42", 200, "slug 42 via POST"),
        ("GET", "/api/orders/forty-two", 200, "slug forty-two via GET"),
        ("GET", "/api/orders/caf%C3%A9", 200, "slug café via GET"),
        ("GET", "/api/files/a/b/c.txt", 200, "a/b/c.txt"),
        ("GET", "/api/files", 200, "(root)"),
        # {name:alpha} refuses digits, and there is no other route: 404 as the host answers.
        ("GET", "/api/hello/R2D2", 404, ""),
        ("GET", "/api/HELLO/Ada", 200, "Hello, Ada"),  # literals match ignoring case
        ("GET", "/api/echo", 404, ""),  # POST-only route
        ("GET", "/hello/Ada", 404, ""),  # outside the route prefix
        ("GET", "/api/no/such/route", 404, ""),
    ],
)
def test_routing_follows_templates_constraints_and_methods(host, method, path, status, body):
    resp = requests.request(method, f"{host.url}{path}", timeout=10)
    assert (resp.status_code, resp.text) == (status, body)


def test_an_async_function_gets_the_body_bytes_and_sets_the_status(host):
    payload = bytes(range(256))
    resp = requests.post(
        f"{host.url}/api/echo",
        data=payload,
        headers={"content-type": "application/octet-stream"},
        timeout=10,
    )
    assert resp.status_code == 201
    assert resp.content == payload


def test_get_json_parses_the_body_and_bad_json_is_the_functions_own_400(host):
    ok = requests.post(f"{host.url}/api/json", json={"seats": 5}, timeout=10)
    assert ok.json() == {"got": {"seats": 5}}
    bad = requests.post(f"{host.url}/api/json", data=b"{not json", timeout=10)
    assert (bad.status_code, bad.text) == (400, "body is not JSON")


def test_an_unhandled_exception_is_a_bare_500_and_the_stack_goes_to_the_log(host):
    resp = requests.get(f"{host.url}/api/boom", timeout=10)
    assert resp.status_code == 500
    assert resp.content == b""
    # The stack is logged after the "Executed ... (Failed" line: wait for the stack itself.
    log = host.wait_for_log("RuntimeError: internal detail")
    assert "Executed 'Functions.boom' (Failed" in log


def test_a_function_returning_none_is_a_500_as_in_the_worker(host):
    resp = requests.get(f"{host.url}/api/forgot-to-return", timeout=10)
    assert (resp.status_code, resp.content) == (500, b"")
    host.wait_for_log("an HTTP function returned NoneType")


def test_auth_levels_are_not_enforced_by_default_as_func_start_does(host):
    assert requests.get(f"{host.url}/api/orders/1", timeout=10).status_code == 200
    assert requests.post(f"{host.url}/api/ops/reset", timeout=10).text == "reset done"


def test_the_admin_clock_reports_the_hosts_time(host):
    doc = requests.get(f"{host.url}/admin/clock", timeout=10).json()
    assert doc["virtual"] is False
    assert doc["now"].endswith("+00:00")
    refused = requests.post(f"{host.url}/admin/clock", json={"advance": 60}, timeout=10)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"


KEYS = {
    "DEVHOST_MASTER_KEY": "master-key-for-tests",
    "DEVHOST_FUNCTION_KEY": "function-key-for-tests",
    "DEVHOST_DURABLETASK_KEY": "durabletask-key-for-tests",
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = app_copy(
        FRONT_APPS / "web",
        tmp_path_factory.mktemp("secured") / "app",
        {**KEYS, "HUB": "SecuredHub"},
    )
    with running_host(app, "--enable-auth") as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "key", "where", "status"),
    [
        ("GET", "/api/hello/Ada", None, None, 200),  # anonymous
        ("GET", "/api/orders/1", None, None, 401),  # function level, no key
        ("GET", "/api/orders/1", "wrong", "header", 401),
        ("GET", "/api/orders/1", KEYS["DEVHOST_FUNCTION_KEY"], "header", 200),
        ("GET", "/api/orders/1", KEYS["DEVHOST_FUNCTION_KEY"], "query", 200),
        ("GET", "/api/orders/1", KEYS["DEVHOST_MASTER_KEY"], "query", 200),
        ("POST", "/api/ops/reset", KEYS["DEVHOST_FUNCTION_KEY"], "header", 401),  # admin level
        ("POST", "/api/ops/reset", KEYS["DEVHOST_MASTER_KEY"], "header", 200),
        ("GET", "/runtime/webhooks/durabletask/instances/", None, None, 401),
        (
            "GET",
            "/runtime/webhooks/durabletask/instances/",
            KEYS["DEVHOST_FUNCTION_KEY"],
            "query",
            401,
        ),
        (
            "GET",
            "/runtime/webhooks/durabletask/instances/",
            KEYS["DEVHOST_DURABLETASK_KEY"],
            "query",
            200,
        ),
        ("GET", "/admin/clock", None, None, 200),  # sandboxes read it without a key
        ("POST", "/admin/clock", None, None, 401),
    ],
)
def test_with_enable_auth_keys_are_required_per_auth_level(
    secured, method, path, key, where, status
):
    headers = {"x-functions-key": key} if key and where == "header" else {}
    params = {"code": key} if key and where == "query" else {}
    resp = requests.request(
        method, f"{secured.url}{path}", headers=headers, params=params, timeout=10
    )
    assert resp.status_code == status


def test_with_enable_auth_the_check_status_links_carry_the_system_key_and_work(secured):
    resp = requests.post(
        f"{secured.url}/api/start/chain",
        json="Ada",
        headers={"x-functions-key": KEYS["DEVHOST_FUNCTION_KEY"]},
        timeout=10,
    )
    assert resp.status_code == 202
    links = resp.json()
    assert f"code={KEYS['DEVHOST_DURABLETASK_KEY']}" in links["statusQueryGetUri"]
    status = _poll(links["statusQueryGetUri"])
    assert status["output"] == "Hello Hello Ada!!"


def _poll(url: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = requests.get(url, timeout=10)
        if resp.status_code == 200:
            doc: dict[str, Any] = resp.json()
            return doc
        assert resp.status_code == 202, resp.text
        assert time.monotonic() < deadline, f"still running: {resp.text}"
        time.sleep(0.05)


def test_a_broken_app_says_what_is_wrong_and_exits_1(tmp_path):
    app = tmp_path / "broken"
    app.mkdir()
    (app / "function_app.py").write_text(
        "import azure.functions as func\nraise ImportError('no module named shared.missing')\n"
    )
    host = start_host(app)
    assert host.process.wait(timeout=30) == 1
    assert "importing" in host.log() and "no module named shared.missing" in host.log()
    assert f"at {app / 'function_app.py'}:2" in host.log()  # where, in the app's own code


def test_a_missing_package_says_where_it_is_imported_and_what_to_do(tmp_path):
    app = tmp_path / "missing"
    (app / "lib").mkdir(parents=True)
    (app / "function_app.py").write_text("import azure.functions as func\nimport lib.rules\n")
    (app / "lib" / "__init__.py").write_text("")
    (app / "lib" / "rules.py").write_text("\n\nimport no_such_package_anywhere\n")
    host = start_host(app)
    assert host.process.wait(timeout=30) == 1
    log = host.log()
    assert "No module named 'no_such_package_anywhere'" in log
    assert f"at {app / 'lib' / 'rules.py'}:3" in log
    assert "add it to requirements.txt and run `make setup`" in log


def test_a_port_in_use_says_so_and_names_the_option(tmp_path, host):
    port = host.url.rsplit(":", 1)[1]
    app = app_copy(FRONT_APPS / "web", tmp_path / "app", {"HUB": "PortHub"})
    second = start_host(app, "--port", port)
    assert second.process.wait(timeout=30) == 1
    assert f"port {port} on 127.0.0.1 is in use" in second.log()
    assert "--port" in second.log()


def test_sigterm_stops_the_host_cleanly(tmp_path):
    app = app_copy(FRONT_APPS / "web", tmp_path / "app", {"HUB": "StopHub"})
    with running_host(app) as running:
        pass
    assert running.process.returncode == 0
    assert "Stopping devhost" in running.log()


def test_a_virtual_clock_is_served_and_moved_through_admin_clock(tmp_path):
    app = app_copy(FRONT_APPS / "web", tmp_path / "app", {"HUB": "ClockHub"})
    with running_host(app, "--virtual-clock") as running:
        before = requests.get(f"{running.url}/admin/clock", timeout=10).json()
        moved = requests.post(f"{running.url}/admin/clock", json={"advance": 86400}, timeout=10)
        after = requests.get(f"{running.url}/admin/clock", timeout=10).json()
        bad = requests.post(f"{running.url}/admin/clock", json={"advance": -5}, timeout=10)
        missing = requests.post(f"{running.url}/admin/clock", json={"speed": 2}, timeout=10)
    assert before["virtual"] is True
    assert moved.status_code == 200
    gap = datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"])
    assert timedelta(days=1) <= gap < timedelta(days=1, minutes=1)
    assert bad.status_code == 400 and "back" in bad.json()["detail"]
    assert missing.status_code == 400 and missing.json()["title"] == "Missing field"


def test_a_fresh_checkout_without_local_settings_is_told_to_copy_the_example(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text(
        "import azure.functions as func\napp = func.FunctionApp()\n"
    )
    (app / "host.json").write_text('{"extensions": {"durableTask": {"hubName": "%TASKHUB_NAME%"}}}')
    (app / "local.settings.json.example").write_text('{"Values": {"TASKHUB_NAME": "x"}}')
    host = start_host(app)
    assert host.process.wait(timeout=30) == 1
    assert "%TASKHUB_NAME% is not set" in host.log()
    assert "copy local.settings.json.example" in host.log()
