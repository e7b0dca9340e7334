"""cspflow's environment pointing at real sandboxes and Azurite, for tests of app code.

The sandboxes and Azurite are started on free ports by the fixtures their own tests use; the
app sees them through the environment exactly as under `make run` (the same wiring code,
devhost/sandbox_wiring.py). A conftest imports the fixtures it needs from here."""

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite
from devhost.sandbox_wiring import StripeCredentials, partner_center_settings, stripe_settings
from sandbox.stripe.server import StripeSandbox
from shared.config import reset_settings
from tests.devhost.azurite_fixture import azurite_service
from tests.sandbox.partner_center.conftest import pc, pc_keys
from tests.sandbox.partner_center.harness import Harness
from tests.sandbox.stripe.conftest import clock, sandbox
from tests.sandbox.stripe.harness import API_KEY, WEBHOOK_SECRET

__all__ = ["app_env", "app_values", "azurite_service", "clock", "pc", "pc_keys", "sandbox"]


@pytest.fixture
def app_values(pc: Harness, sandbox: StripeSandbox, azurite: Azurite) -> dict[str, str]:
    """The app settings for a Partner Center sandbox, a Stripe sandbox and Azurite."""
    return {
        **partner_center_settings(pc.sandbox.config.data_dir),
        **stripe_settings(sandbox.base_url, StripeCredentials(API_KEY, WEBHOOK_SECRET)),
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_PARTNER_CENTER_TIMEOUT_S": "5",
    }


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
