"""What `make run` hands the app for each sandbox (devhost/sandbox_wiring.py)."""

import json
import stat
from pathlib import Path

import pytest

from devhost.sandbox_wiring import (
    STRIPE_WEBHOOK_EVENTS,
    STRIPE_WEBHOOK_ROUTE,
    StripeCredentials,
    WiringError,
    mail_args,
    mail_settings,
    partner_center_args,
    partner_center_settings,
    stripe_args,
    stripe_credentials,
    stripe_settings,
)
from sandbox.mail.server import MailSandbox
from sandbox.mail.server import Options as MailOptions
from shared.config import Settings
from shared.notifications.transport import SmtpTransport
from shared.partner_center import PartnerCenterClient
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.conftest import pc, pc_keys
from tests.sandbox.partner_center.harness import Harness
from tests.shared.notifications.test_transport import message
from triggers.queues.routing import acted_on

__all__ = ["pc", "pc_keys"]
ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = StripeCredentials("sk_test_wiring_tests_1", "whsec_wiring_tests_1")


def settings_from(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_partner_center_settings_from_connection_json_reach_the_sandbox(
    pc: Harness, monkeypatch: pytest.MonkeyPatch
):
    customer = pc.customer()
    values = partner_center_settings(pc.sandbox.config.data_dir)
    settings = settings_from(values, monkeypatch)
    assert str(settings.partner_center_authority).rstrip("/") == pc.sandbox.authority_url
    assert settings.partner_center_webhook_cert_url_prefixes == (f"{pc.base_url}/cert/",)
    assert pc.sandbox.certificate_url.startswith(
        settings.partner_center_webhook_cert_url_prefixes[0]
    )
    client = PartnerCenterClient.from_settings(settings)
    assert [c.id for c in client.list_customers()] == [customer]  # app-only token
    assert client.mca_template_id()  # app+user: the refresh token works too


def test_a_missing_connection_file_says_what_to_do(tmp_path: Path):
    with pytest.raises(WiringError, match=r"connection\.json is missing or incomplete"):
        partner_center_settings(tmp_path)
    (tmp_path / "connection.json").write_text(json.dumps({"baseUrl": "https://x"}))
    with pytest.raises(WiringError, match="delete"):
        partner_center_settings(tmp_path)


def test_stripe_credentials_are_made_once_private_and_reused(tmp_path: Path):
    first = stripe_credentials(tmp_path / "stripe")
    again = stripe_credentials(tmp_path / "stripe")
    assert first == again
    assert first.api_key.startswith("sk_test_") and first.webhook_secret.startswith("whsec_")
    mode = stat.S_IMODE((tmp_path / "stripe" / "credentials.json").stat().st_mode)
    assert mode == 0o600
    assert stripe_credentials(tmp_path / "other") != first


def test_stripe_settings_and_args_share_the_webhook_secret(monkeypatch: pytest.MonkeyPatch):
    credentials = CREDENTIALS
    settings = settings_from(stripe_settings("http://127.0.0.1:1234", credentials), monkeypatch)
    assert [s.get_secret_value() for s in settings.stripe_webhook_secrets] == [
        credentials.webhook_secret
    ]
    assert settings.stripe_api_key.get_secret_value() == credentials.api_key
    args = stripe_args(credentials, "http://127.0.0.1:7071")
    assert args == [
        "--webhook-url",
        f"http://127.0.0.1:7071/api/{STRIPE_WEBHOOK_ROUTE}",
        "--webhook-secret",
        credentials.webhook_secret,
        "--webhook-events",
        ",".join(STRIPE_WEBHOOK_EVENTS),
    ]


def test_the_stripe_endpoint_is_registered_for_exactly_the_events_the_app_acts_on():
    # Stripe's advice: subscribe only to the events the integration needs
    # (https://docs.stripe.com/webhooks#best-practices).
    assert acted_on("stripe") == STRIPE_WEBHOOK_EVENTS


def test_make_run_overrides_every_sandbox_placeholder_in_the_example(tmp_path: Path):
    """local.settings.json.example holds placeholders for the sandboxes' values; each one
    must be replaced by the wiring, or `make run` would talk to a sandbox with a placeholder."""
    (tmp_path / "connection.json").write_text(
        json.dumps(
            {
                "baseUrl": "https://127.0.0.1:1",
                "tenantId": "t",
                "clientId": "c",
                "clientSecret": "s",
                "refreshToken": "r",
                "caBundle": "/ca.pem",
                "certificateUrl": "https://127.0.0.1:1/cert/x.cer",
            }
        )
    )
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "connection.json").write_text(
        json.dumps(
            {
                "smtpHost": "127.0.0.1",
                "smtpPort": 3,
                "starttls": True,
                "caBundle": "/mail-ca.pem",
                "username": "u",
                "password": "p",
            }
        )
    )
    wired = {
        **partner_center_settings(tmp_path),
        **stripe_settings("http://127.0.0.1:2", CREDENTIALS),
        **mail_settings(tmp_path / "mail"),
    }
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    sandbox_keys = {
        k
        for k in example
        if k.startswith(("CSPFLOW_PARTNER_CENTER_", "CSPFLOW_STRIPE_", "CSPFLOW_SMTP_"))
    }
    assert sandbox_keys <= set(wired)
    fill_ins = {k for k, v in example.items() if "FILL-IN" in v}
    assert fill_ins and fill_ins <= set(wired)


def test_mail_settings_from_connection_json_reach_the_sandbox_over_starttls_and_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with MailSandbox(MailOptions(data_dir=tmp_path, starttls=True, require_auth=True)) as sb:
        settings = settings_from(mail_settings(tmp_path), monkeypatch)
        assert (settings.mail_transport, settings.smtp_starttls) == ("smtp", True)
        assert settings.smtp_username == "cspflow" and settings.smtp_ca_bundle is not None
        SmtpTransport.from_settings(settings).send(message())
        assert len(Inbox(sb.base_url).messages()) == 1


def test_mail_args_ask_for_starttls_and_auth_on_the_given_port():
    assert mail_args(2525) == ["--smtp-port", "2525", "--starttls", "--require-auth"]


def test_a_missing_mail_connection_file_says_what_to_do(tmp_path: Path):
    with pytest.raises(WiringError, match=r"mail sandbox is ready but .*connection\.json"):
        mail_settings(tmp_path)


def test_the_partner_center_sandbox_delivers_to_the_intake_route():
    assert partner_center_args("http://127.0.0.1:7071") == [
        "--webhook-url",
        "http://127.0.0.1:7071/api/webhooks/partner-center",
    ]
