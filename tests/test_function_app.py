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
        "send_notice",
        "sla_clock",
        "open_sla_clock",
        "apply_sla_signal",
        "wake_sla_clock",
        "signal_sla_clock",
        "sla_signals",
        "acknowledge_clock",
        "get_clock",
        "list_clocks",
        "customer_sla",
        "start_catalog_sync",
        "list_customers",
        "get_customer",
        "list_subscriptions",
        "get_subscription",
        "get_timeline",
        "get_catalog",
        "get_price_list",
        "put_price_list",
        "catalog_sync",
        "import_catalog",
        # event intake (docs/intake.md)
        "partner_center_webhook",
        "stripe_webhook",
        "partner_center_events",
        "stripe_events",
        "partner_center_audit_poll",
        "partner_center_book_sync",
        "stripe_events_poll",
        "poison_queue_watch",
        "start_webhook_registration",
        "redrive_poison",
        "register_partner_center_webhook",
        "register_webhook",
        "read_test_event",
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
        "smtp_host",  # the local mail sandbox: Azure sends through ACS (or a real relay)
        "storage_connection",
        "stripe_webhook_secrets",
    ]
    assert "sk_live_set_but_others_missing" not in body
