"""The connectivity activities against a real Partner Center sandbox (HTTPS, MSAL), a real
Stripe sandbox (the official SDK) and a real Azurite, invoked as the Functions host invokes
them and read as the orchestrator reads them."""

import os
import socket
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from shared.config import reset_settings
from shared.errors import StepError
from shared.models.connectivity import CheckResult
from tests.app_functions import user_function
from workflows.connectivity import CHECKS, read_check

STORAGE_PROBE = {"table": "Events", "queue": "cspflow-events"}


def run(activity: str, probe: dict[str, Any]) -> CheckResult:
    """The check's line in the report, from what the registered function returned."""
    check = next(c for c in CHECKS if c.activity.name == activity)
    return read_check(check, user_function(activity)(probe))


def closed_port_url(scheme: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_settings()


# Partner Center ---------------------------------------------------------------------------
def test_partner_center_check_acquires_a_token_and_reads_a_page_of_customers(app_env, pc):
    pc.customer()
    pc.customer()
    result = run("check_partner_center", {"page_size": 5})
    assert result.ok, result.detail
    assert result.name == "partner_center"
    assert result.detail == "token acquired; 2 customer(s) on the first page"
    assert result.latency_ms is not None and result.latency_ms >= 0


def test_partner_center_reads_one_page_only(app_env, pc):
    for _ in range(3):
        pc.customer(attest=False)
    result = run("check_partner_center", {"page_size": 2})
    assert result.detail == "token acquired; 2 customer(s) on the first page"


def test_a_wrong_partner_center_secret_is_refused_and_not_retried(app_env):
    set_env(app_env, CSPFLOW_PARTNER_CENTER_CLIENT_SECRET="not-the-secret-zz9")
    result = run("check_partner_center", {})
    assert (result.ok, result.failure) == (False, "refused")
    assert "AuthError" in result.detail
    assert "not-the-secret-zz9" not in result.detail


def test_an_unreachable_partner_center_raises_for_the_retry_policy_without_secrets(app_env):
    url = closed_port_url("https")
    set_env(app_env, CSPFLOW_PARTNER_CENTER_BASE_URL=url, CSPFLOW_PARTNER_CENTER_AUTHORITY=url)
    secret = os.environ["CSPFLOW_PARTNER_CENTER_CLIENT_SECRET"]
    with pytest.raises(StepError, match="RetryableError") as raised:
        run("check_partner_center", {})
    assert secret not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# Stripe -----------------------------------------------------------------------------------
def test_stripe_check_is_an_authenticated_read_through_the_adapter(app_env):
    result = run("check_stripe", {"page_size": 3})
    assert result.ok, result.detail
    assert result.detail == "API key accepted; 0 customer(s) on the first page"


def test_a_key_stripe_refuses_is_a_refused_check_that_does_not_show_the_key(app_env):
    set_env(app_env, CSPFLOW_STRIPE_API_KEY="sk_live_not_a_test_key_123")
    result = run("check_stripe", {})
    assert (result.ok, result.failure) == (False, "refused")
    assert "sk_live_not_a_test_key_123" not in result.detail


def test_a_missing_stripe_key_is_refused_naming_it(app_env):
    app_env.delenv("CSPFLOW_STRIPE_API_KEY")
    reset_settings()
    result = run("check_stripe", {})
    assert (result.ok, result.failure) == (False, "refused")
    assert "a Stripe API key is required" in result.detail


def test_an_unreachable_stripe_raises_for_the_retry_policy(app_env):
    set_env(app_env, CSPFLOW_STRIPE_API_BASE=closed_port_url("http"))
    with pytest.raises(StepError, match="PaymentsUnavailable") as raised:
        run("check_stripe", {})
    assert os.environ["CSPFLOW_STRIPE_API_KEY"] not in str(raised.value)


# Storage ----------------------------------------------------------------------------------
def test_storage_check_creates_the_table_and_the_queue_and_is_idempotent(app_env, azurite):
    first = run("check_storage", STORAGE_PROBE)
    again = run("check_storage", STORAGE_PROBE)
    assert first.ok and again.ok, (first.detail, again.detail)
    assert again.detail == "table cspflowEvents and queue cspflow-events ready"
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    assert "cspflowEvents" in {t.name for t in tables.list_tables()}
    assert "cspflow-events" in {q.name for q in queues.list_queues()}


def test_unreachable_storage_raises_and_never_shows_the_account_key(app_env, azurite):
    connection = azurite.connection_string
    key = next(p.split("=", 1)[1] for p in connection.split(";") if p.startswith("AccountKey="))
    dead = f"{closed_port_url('http')}/devstoreaccount1"
    set_env(
        app_env,
        AzureWebJobsStorage=(
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
            f"QueueEndpoint={dead};TableEndpoint={dead}"
        ),
    )
    with pytest.raises(StepError) as raised:
        run("check_storage", STORAGE_PROBE)
    assert key not in str(raised.value)


# Settings and inputs ----------------------------------------------------------------------
def test_invalid_settings_are_a_refused_check_naming_the_setting(app_env):
    set_env(app_env, CSPFLOW_SMTP_PORT="not-a-port")
    result = run("check_storage", STORAGE_PROBE)
    assert (result.ok, result.failure, result.latency_ms) == (False, "refused", None)
    assert result.detail == "ConfigurationError: invalid settings: smtp_port"


@pytest.mark.parametrize(
    ("activity", "probe", "field"),
    [
        ("check_partner_center", {"page_size": 0}, "page_size"),
        ("check_stripe", {"page_size": 101}, "page_size"),
        ("check_storage", {"table": "Events", "queue": "Bad_Queue"}, "queue"),
        ("check_storage", {"table": "Events", "queue": "two--hyphens"}, "queue"),
        ("check_storage", {"table": "1x", "queue": "cspflow-events"}, "table"),
        ("check_storage", {"table": "Events", "queue": "q", "extra": 1}, "extra"),
    ],
)
def test_a_malformed_probe_is_a_permanent_failure_naming_the_field(activity, probe, field):
    envelope = user_function(activity)(probe)
    assert envelope["ok"] is False
    assert envelope["failure"]["kind"] == "permanent"
    assert envelope["failure"]["code"] == "invalid_input"
    assert envelope["failure"]["field"] == field


def test_storage_refusing_the_account_key_is_a_refused_check(app_env, azurite):
    connection = azurite.connection_string
    wrong = ";".join(
        "AccountKey=" + "A" * 86 + "==" if p.startswith("AccountKey=") else p
        for p in connection.split(";")
    )
    set_env(app_env, AzureWebJobsStorage=wrong)
    result = run("check_storage", STORAGE_PROBE)
    assert (result.ok, result.failure) == (False, "refused"), result.detail
    assert "A" * 86 not in result.detail


def test_identity_based_storage_without_an_identity_is_refused(app_env):
    """As deployed by azd (AzureWebJobsStorage__accountName), on a machine that has no
    managed identity and no az login: the check says so instead of retrying."""
    set_env(app_env, AzureWebJobsStorage__accountName="stcspflownowhere")
    result = run("check_storage", STORAGE_PROBE)
    assert (result.ok, result.failure) == (False, "refused"), result.detail
    assert result.detail.startswith("StorageRefused: DefaultAzureCredential failed")
