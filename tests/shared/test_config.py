from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import Settings, get_settings, reset_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch):
    for key in list(__import__("os").environ):
        if key.startswith("CSPFLOW_") or key == "AzureWebJobsStorage":
            monkeypatch.delenv(key)
    reset_settings()
    yield
    reset_settings()


def test_defaults_point_at_microsoft_and_stripe():
    s = Settings()
    assert str(s.partner_center_base_url) == "https://api.partnercenter.microsoft.com/"
    assert str(s.stripe_api_base) == "https://api.stripe.com/"
    assert s.storage_connection.get_secret_value() == "UseDevelopmentStorage=true"


def test_values_come_from_prefixed_environment(monkeypatch):
    monkeypatch.setenv("CSPFLOW_STRIPE_API_BASE", "http://127.0.0.1:12111")
    monkeypatch.setenv("CSPFLOW_PARTNER_CENTER_CA_BUNDLE", "/tmp/ca.pem")
    monkeypatch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountName=x")
    s = Settings()
    assert str(s.stripe_api_base) == "http://127.0.0.1:12111/"
    assert s.partner_center_ca_bundle == Path("/tmp/ca.pem")
    assert s.storage_connection.get_secret_value().startswith("DefaultEndpointsProtocol")


def test_secrets_never_appear_in_repr(monkeypatch):
    monkeypatch.setenv("CSPFLOW_STRIPE_API_KEY", "sk_test_very_secret")
    monkeypatch.setenv("CSPFLOW_PARTNER_CENTER_CLIENT_SECRET", "pc-very-secret")
    text = repr(Settings()) + str(Settings().model_dump())
    assert "sk_test_very_secret" not in text
    assert "pc-very-secret" not in text


def test_webhook_secrets_split_on_commas_for_rotation(monkeypatch):
    monkeypatch.setenv("CSPFLOW_STRIPE_WEBHOOK_SECRETS", "whsec_old, whsec_new")
    secrets = [s.get_secret_value() for s in Settings().stripe_webhook_secrets]
    assert secrets == ["whsec_old", "whsec_new"]


def test_a_webhook_secret_that_is_not_whsec_is_refused_naming_the_field(monkeypatch):
    monkeypatch.setenv("CSPFLOW_STRIPE_WEBHOOK_SECRETS", "sk_live_oops")
    with pytest.raises(ValidationError, match="stripe_webhook_secrets"):
        Settings()


def test_bad_port_names_the_field(monkeypatch):
    monkeypatch.setenv("CSPFLOW_SMTP_PORT", "70000")
    with pytest.raises(ValidationError, match="smtp_port"):
        Settings()


def test_get_settings_is_lazy_and_cached(monkeypatch):
    monkeypatch.setenv("CSPFLOW_ENVIRONMENT", "test")
    first = get_settings()
    monkeypatch.setenv("CSPFLOW_ENVIRONMENT", "local")
    assert get_settings() is first
    reset_settings()
    assert get_settings().environment == "local"


AZURE_SECRETS = {
    "CSPFLOW_PARTNER_CENTER_TENANT_ID": "00000000-0000-0000-0000-000000000001",
    "CSPFLOW_PARTNER_CENTER_CLIENT_ID": "00000000-0000-0000-0000-000000000002",
    "CSPFLOW_PARTNER_CENTER_CLIENT_SECRET": "pc-secret",
    "CSPFLOW_PARTNER_CENTER_REFRESH_TOKEN": "refresh-token",
    "CSPFLOW_STRIPE_API_KEY": "sk_live_key",
    "CSPFLOW_STRIPE_WEBHOOK_SECRETS": "whsec_one",
    "AzureWebJobsStorage__accountName": "stcspflowprod",
    # infra/bicep sets both: Azure Communication Services Email with the managed identity.
    "CSPFLOW_MAIL_TRANSPORT": "acs",
    "CSPFLOW_ACS_ENDPOINT": "https://acs-cspflow.europe.communication.azure.com",
}


def set_azure(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    monkeypatch.setenv("CSPFLOW_ENVIRONMENT", "azure")
    for name, value in {**AZURE_SECRETS, **overrides}.items():
        monkeypatch.setenv(name, value)


def test_in_azure_a_complete_configuration_loads(monkeypatch):
    set_azure(monkeypatch)
    assert Settings().environment == "azure"


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("CSPFLOW_PARTNER_CENTER_TENANT_ID", "partner_center_tenant_id"),
        ("CSPFLOW_PARTNER_CENTER_CLIENT_ID", "partner_center_client_id"),
        ("CSPFLOW_PARTNER_CENTER_CLIENT_SECRET", "partner_center_client_secret"),
        ("CSPFLOW_PARTNER_CENTER_REFRESH_TOKEN", "partner_center_refresh_token"),
        ("CSPFLOW_STRIPE_API_KEY", "stripe_api_key"),
        ("CSPFLOW_STRIPE_WEBHOOK_SECRETS", "stripe_webhook_secrets"),
    ],
)
def test_in_azure_an_empty_secret_is_refused_naming_the_setting(monkeypatch, variable, setting):
    set_azure(monkeypatch)
    monkeypatch.delenv(variable)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [e["loc"] for e in raised.value.errors()] == [(setting,)]


def test_in_azure_the_development_storage_is_refused_naming_it(monkeypatch):
    set_azure(monkeypatch)
    monkeypatch.delenv("AzureWebJobsStorage__accountName")
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [e["loc"] for e in raised.value.errors()] == [("storage_connection",)]


def test_locally_empty_secrets_are_allowed_the_sandboxes_supply_them():
    assert Settings().environment == "local"


def test_in_azure_the_local_mail_sandbox_is_refused_naming_it(monkeypatch):
    set_azure(monkeypatch, CSPFLOW_MAIL_TRANSPORT="smtp")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [e["loc"] for e in raised.value.errors()] == [("smtp_host",)]
    monkeypatch.setenv("CSPFLOW_SMTP_HOST", "smtp.relay.contoso.example")
    assert Settings().smtp_host == "smtp.relay.contoso.example"  # a real relay is fine


def test_acs_needs_its_endpoint_and_smtp_auth_its_password(monkeypatch):
    monkeypatch.setenv("CSPFLOW_MAIL_TRANSPORT", "acs")
    with pytest.raises(ValidationError, match="acs_endpoint must be set"):
        Settings()
    monkeypatch.setenv("CSPFLOW_MAIL_TRANSPORT", "smtp")
    monkeypatch.setenv("CSPFLOW_SMTP_USERNAME", "relay-user")
    with pytest.raises(ValidationError, match="smtp_password must be set"):
        Settings()


def test_the_smtp_password_is_a_secret_redacted_everywhere(monkeypatch):
    monkeypatch.setenv("CSPFLOW_SMTP_USERNAME", "relay-user")
    monkeypatch.setenv("CSPFLOW_SMTP_PASSWORD", "relay-password-123")
    s = Settings()
    assert "relay-password-123" not in repr(s)
    assert s.redact("AUTH with relay-password-123 refused") == "AUTH with *** refused"


def test_partner_readers_are_names_and_addresses_in_a_supported_language(monkeypatch):
    monkeypatch.setenv(
        "CSPFLOW_NOTIFY_OPS_TO", "Night Shift <night@contoso.example>, day@contoso.example"
    )
    monkeypatch.setenv("CSPFLOW_NOTIFY_PARTNER_LOCALE", "nl_BE")
    s = Settings()
    assert [(a.name, a.email) for a in s.notify_ops_to] == [
        ("Night Shift", "night@contoso.example"),
        ("day", "day@contoso.example"),
    ]
    assert s.notify_partner_locale == "nl-BE"
    monkeypatch.setenv("CSPFLOW_NOTIFY_PARTNER_LOCALE", "de")
    with pytest.raises(ValidationError, match="notify_partner_locale"):
        Settings()
    monkeypatch.setenv("CSPFLOW_NOTIFY_PARTNER_LOCALE", "en")
    monkeypatch.setenv("CSPFLOW_NOTIFY_PARTNER_TIME_ZONE", "Europe/Nowhere")
    with pytest.raises(ValidationError, match="notify_partner_time_zone"):
        Settings()


def test_sla_targets_and_the_escalation_chain_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "CSPFLOW_SLA_TARGETS",
        "onboarding.premium=2 business_hours, support_resolution.basic=4 business_days",
    )
    monkeypatch.setenv("CSPFLOW_SLA_ESCALATION_CHAIN", "owner:0,director:60")
    s = Settings()
    assert s.sla_targets == (
        "onboarding.premium=2 business_hours",
        "support_resolution.basic=4 business_days",
    )
    assert s.sla_escalation_chain == "owner:0,director:60"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("CSPFLOW_SLA_TARGETS", "onboarding.premium=soon", "sla_targets"),
        ("CSPFLOW_SLA_ESCALATION_CHAIN", "owner,manager", "sla_escalation_chain"),
    ],
)
def test_bad_sla_configuration_is_refused_naming_the_setting(monkeypatch, variable, value, field):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=field):
        Settings()


def test_settings_naming_partner_readers_key_a_per_settings_cache(monkeypatch):
    monkeypatch.setenv("CSPFLOW_NOTIFY_OPS_TO", "Night Shift <night@contoso.example>")
    one, same = Settings(), Settings()
    monkeypatch.setenv("CSPFLOW_NOTIFY_OPS_TO", "day@contoso.example")
    other = Settings()
    cache = {one: "pool"}
    assert cache[same] == "pool"
    assert other not in cache
