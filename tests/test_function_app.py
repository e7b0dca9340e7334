import json

import azure.functions as func

from tests.app_functions import functions_by_name, user_function


def test_the_app_indexes_as_the_python_worker_would():
    names = functions_by_name()
    assert set(names) == {
        "health",
        "start_connectivity_check",
        "openapi",
        "api_fallback",
        "connectivity_check",
        "check_partner_center",
        "check_stripe",
        "check_storage",
        "book_sync",
        "book_sync_batch",
        "read_customer_page",
        "sync_customer",
        "flag_gone_customers",
        "link_stripe_customers",
        "record_book_sync",
    }


def test_health_answers_ok_with_the_version(configure):
    configure(CSPFLOW_ENVIRONMENT="test")
    fn = user_function("health")
    resp = fn(func.HttpRequest("GET", "http://127.0.0.1:7071/api/health", body=b""))
    assert resp.status_code == 200
    assert json.loads(resp.get_body()) == {
        "status": "ok",
        "version": "0.1.0",
        "environment": "test",
    }


def test_health_names_bad_settings_without_a_500(monkeypatch):
    monkeypatch.setenv("CSPFLOW_SMTP_PORT", "not-a-port")
    monkeypatch.setenv("CSPFLOW_STRIPE_API_KEY", "sk_test_secret_value")
    fn = user_function("health")
    resp = fn(func.HttpRequest("GET", "http://127.0.0.1:7071/api/health", body=b""))
    body = resp.get_body().decode()
    assert resp.status_code == 503
    assert json.loads(body)["invalid_settings"] == ["smtp_port"]
    assert "sk_test_secret_value" not in body


def test_health_in_azure_names_each_missing_secret_and_the_emulator_storage(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith(("CSPFLOW_", "AzureWebJobsStorage")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CSPFLOW_ENVIRONMENT", "azure")
    monkeypatch.setenv("CSPFLOW_STRIPE_API_KEY", "sk_live_set_but_others_missing")
    fn = user_function("health")
    resp = fn(func.HttpRequest("GET", "http://127.0.0.1:7071/api/health", body=b""))
    body = resp.get_body().decode()
    assert resp.status_code == 503
    assert json.loads(body)["invalid_settings"] == [
        "partner_center_client_id",
        "partner_center_client_secret",
        "partner_center_refresh_token",
        "partner_center_tenant_id",
        "storage_connection",
        "stripe_webhook_secrets",
    ]
    assert "sk_live_set_but_others_missing" not in body
