import json
from functools import cache

import azure.functions as func

import function_app


@cache  # get_functions() may be called once per app, as the worker does
def _functions_by_name() -> dict[str, func.Function]:
    return {f.get_function_name(): f for f in function_app.app.get_functions()}


def test_the_app_indexes_as_the_python_worker_would():
    names = _functions_by_name()
    assert "health" in names


def test_health_answers_ok_with_the_version(monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPFLOW_ENVIRONMENT", "test")
    reset_settings()
    fn = _functions_by_name()["health"].get_user_function()
    resp = fn(func.HttpRequest("GET", "http://127.0.0.1:7071/api/health", body=b""))
    assert resp.status_code == 200
    assert json.loads(resp.get_body()) == {
        "status": "ok",
        "version": "0.1.0",
        "environment": "test",
    }
    reset_settings()


def test_health_names_bad_settings_without_a_500(monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPFLOW_SMTP_PORT", "not-a-port")
    monkeypatch.setenv("CSPFLOW_STRIPE_API_KEY", "sk_test_secret_value")
    reset_settings()
    fn = _functions_by_name()["health"].get_user_function()
    resp = fn(func.HttpRequest("GET", "http://127.0.0.1:7071/api/health", body=b""))
    body = resp.get_body().decode()
    assert resp.status_code == 503
    assert json.loads(body)["invalid_settings"] == ["smtp_port"]
    assert "sk_test_secret_value" not in body
    reset_settings()
