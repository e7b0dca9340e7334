"""cspflow's environment pointing at real sandboxes and Azurite, for tests of app code.

The sandboxes and Azurite are started on free ports by the fixtures their own tests use; the
app sees them through the environment exactly as under `make run` (the same wiring code,
devhost/sandbox_wiring.py). A conftest imports the fixtures it needs from here.

- `app_env`: Partner Center, Stripe and mail sandboxes and Azurite;
- `notify_env`: the mail sandbox and Azurite only (what notifications need), with a table
  prefix of its own so each test reads only its own notice log."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from devhost.sandbox_wiring import (
    StripeCredentials,
    mail_settings,
    partner_center_settings,
    stripe_settings,
)
from sandbox.mail.server import MailSandbox
from sandbox.mail.server import Options as MailOptions
from sandbox.stripe.server import StripeSandbox
from shared.config import reset_settings
from tests.devhost.azurite_fixture import azurite_service
from tests.sandbox.mail.harness import Inbox
from tests.sandbox.partner_center.conftest import pc, pc_keys
from tests.sandbox.partner_center.harness import Harness
from tests.sandbox.stripe.conftest import clock, sandbox
from tests.sandbox.stripe.harness import API_KEY, WEBHOOK_SECRET
from tests.shared.notifications.leaks import leaks

__all__ = [
    "app_env",
    "app_values",
    "azurite_service",
    "clock",
    "mail",
    "notify_env",
    "notify_values",
    "pc",
    "pc_keys",
    "sandbox",
]


@pytest.fixture
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSandbox]:
    """The mail sandbox as `make run` starts it: STARTTLS and AUTH required."""
    data = Path(tmp_path_factory.mktemp("mail"))
    with MailSandbox(MailOptions(data_dir=data, starttls=True, require_auth=True)) as sb:
        yield sb


@pytest.fixture
def app_values(
    pc: Harness, sandbox: StripeSandbox, mail: MailSandbox, azurite: Azurite
) -> dict[str, str]:
    """The app settings for a Partner Center sandbox, a Stripe sandbox, the mail sandbox and
    Azurite."""
    return {
        **partner_center_settings(pc.sandbox.config.data_dir),
        **stripe_settings(sandbox.base_url, StripeCredentials(API_KEY, WEBHOOK_SECRET)),
        **mail_settings(mail.options.data_dir),
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_PARTNER_CENTER_TIMEOUT_S": "5",
    }


@pytest.fixture
def notify_values(mail: MailSandbox, azurite: Azurite) -> dict[str, str]:
    """The app settings for notifications: the mail sandbox, Azurite, a fresh table prefix,
    the partner's ops and approver addresses; and a secret of every kind the app holds, so a
    test can check that none of them is ever mailed."""
    return {
        **mail_settings(mail.options.data_dir),
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_TABLE_PREFIX": f"n{uuid.uuid4().hex[:16]}",
        "CSPFLOW_SMTP_TIMEOUT_S": "5",
        "CSPFLOW_PARTNER_NAME": "Contoso Cloud Partners",
        "CSPFLOW_PARTNER_SUPPORT_EMAIL": "support@contoso-cloud.example",
        "CSPFLOW_NOTIFY_OPS_TO": "Operations <ops@contoso-cloud.example>",
        "CSPFLOW_NOTIFY_APPROVERS_TO": "Steven Buchanan <approvals@contoso-cloud.example>",
        "CSPFLOW_STRIPE_API_KEY": f"sk_test_{uuid.uuid4().hex}",
        "CSPFLOW_STRIPE_WEBHOOK_SECRETS": f"whsec_{uuid.uuid4().hex}",
        "CSPFLOW_PARTNER_CENTER_CLIENT_SECRET": f"pc-secret-{uuid.uuid4().hex}",
        "CSPFLOW_PARTNER_CENTER_REFRESH_TOKEN": f"0.refresh.{uuid.uuid4().hex}",
    }


@pytest.fixture
def notify_env(
    monkeypatch: pytest.MonkeyPatch, notify_values: dict[str, str], mail: MailSandbox
) -> Iterator[pytest.MonkeyPatch]:
    """This process's environment set to `notify_values`. Afterwards, everything the mail
    sandbox received in the test is searched for the app's secrets and for card numbers:
    none may have been mailed, whatever the test did."""
    for name, value in notify_values.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield monkeypatch
    reset_settings()
    secrets = [
        notify_values[name]
        for name in notify_values
        if name.endswith(("_API_KEY", "_WEBHOOK_SECRETS", "_CLIENT_SECRET", "_REFRESH_TOKEN"))
    ]
    secrets.append(mail.connection["password"])
    secrets += [
        part.split("=", 1)[1]
        for part in notify_values["AzureWebJobsStorage"].split(";")
        if part.startswith("AccountKey=")
    ]
    found = leaks(Inbox(mail.base_url).everything(), secrets)
    assert not found, f"the mail sandbox received what no notice may carry: {found}"


@pytest.fixture
def app_env(
    monkeypatch: pytest.MonkeyPatch, app_values: dict[str, str]
) -> Iterator[pytest.MonkeyPatch]:
    """This process's environment set to `app_values`; yields the monkeypatch so a test
    can break one setting."""
    for name, value in app_values.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield monkeypatch
    reset_settings()
