import json
import os
import subprocess
import sys
from pathlib import Path

import azure.functions as func

from tests.app_functions import functions_by_name, user_function


def test_the_app_indexes_as_the_python_worker_would():
    names = functions_by_name()
    assert set(names) == {
        "health",
        "start_connectivity_check",
        "start_book_sync_request",
        "book_sync_status",
        "book_sync_nightly",
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
        "stripe_events_poll",
        "poison_queue_watch",
        "start_webhook_registration",
        "redrive_poison",
        "register_partner_center_webhook",
        "register_webhook",
        "read_test_event",
        "book_sync",
        "book_sync_batch",
        "read_customer_page",
        "sync_customer",
        "flag_gone_customers",
        "link_stripe_customers",
        "record_book_sync",
        "renewal",
        "open_renewal",
        "send_renewal_reminder",
        "plan_renewal_decision",
        "record_renewal_applied",
        "tell_renewal_decision",
        "tell_renewal_not_applied",
        "set_renewal_reminders",
        "confirm_renewal",
        "start_renewal_sweep",
        "renewal_sweep",
        "list_renewals",
        "get_renewal",
        "decide_renewal",
        "open_decision_link",
        "decide_by_link",
        # Partner Center subscription operations (activities/subscriptions.py)
        "read_subscription",
        "read_transition_eligibilities",
        "read_transition",
        "set_quantity",
        "set_auto_renew",
        "schedule_next_term",
        "suspend_subscription",
        "reactivate_subscription",
        "cancel_subscription",
        "transition_subscription",
        # payments (activities/payments.py)
        "set_up_stripe_customer",
        "attach_card",
        "create_card_setup_link",
        "complete_card_setup",
        "charge_lines",
        "credit_invoice",
        "refund_payment",
        "read_invoice",
        # licence changes (docs/licence-changes.md)
        "licence_change_queue",
        "licence_change",
        "next_licence_change",
        "load_licence_change",
        "record_licence_change",
        "find_creditable_invoice",
        "request_licence_change",
        "get_licence_change",
        "decide_approval",
        "list_approvals",
        "void_invoice",
        # onboarding (workflows/onboarding.py, triggers/orders.py)
        "place_order",
        "get_order",
        "card_setup_done",
        "onboarding",
        "reserve_order",
        "check_domain",
        "create_partner_center_customer",
        "attest_customer_agreement",
        "link_stripe_customer",
        "buy_lines",
        "read_provisioning",
        "record_order_subscriptions",
        "set_order_status",
        "cancel_bought",
        "record_time_to_value",
        "raise_order_alert",
        "dunning",
        "open_dunning_case",
        "refresh_dunning_case",
        "charge_dunning_invoice",
        "send_dunning_notice",
        "set_dunning_auto_renew",
        "suspend_for_dunning",
        "reactivate_after_payment",
        "write_off_dunning_case",
        "close_dunning_case",
        "warn_expiring_card",
        "list_dunning_cases",
        "get_dunning_case",
        "card_expiry_sweep",
        "card_customers_page",
        "start_card_expiry_sweep_request",
        "card_expiry_monthly",
        "dunning_parked_starts",
        # the billing run (docs/billing.md)
        "start_billing_run_request",
        "billing_run_status",
        "billing_run_timer",
        "billing_run",
        "billing_lane",
        "bill_customer",
        "list_due_customers",
        "plan_customer_invoice",
        "issue_invoice",
        "record_customer_billed",
        "record_billing_run",
        # reconciliation (docs/billing.md)
        "start_reconciliation_request",
        "get_reconciliation",
        "get_reconciliation_csv",
        "open_dispute",
        "reconciliation_monthly",
        "reconciliation",
        "resolve_partner_invoice",
        "reconcile_invoice",
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


def test_the_nightly_book_sync_runs_at_two_utc_by_default():
    bindings = functions_by_name()["book_sync_nightly"].get_bindings_dict()["bindings"]
    timer = next(b for b in bindings if b["type"] == "timerTrigger")
    assert (timer["schedule"], timer["useMonitor"]) == ("0 0 2 * * *", True)


def test_the_nightly_book_sync_follows_its_setting_and_off_registers_no_timer():
    code = (
        "import function_app; "
        "fs = {f.get_function_name(): f for f in function_app.app.get_functions()}; "
        "t = fs.get('book_sync_nightly'); "
        "print([b['schedule'] for b in t.get_bindings_dict()['bindings'] "
        "if b['type'] == 'timerTrigger'][0] if t else 'none')"
    )
    for value, expected in (("0 15 3 * * *", "0 15 3 * * *"), ("off", "none")):
        env = {**os.environ, "CSPFLOW_BOOK_SYNC_SCHEDULE": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        assert out.stdout.strip() == expected
