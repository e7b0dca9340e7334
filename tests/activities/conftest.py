"""The activities run against the real sandboxes and Azurite, started on free ports by the
fixtures those tests already use, and see them through the environment as under `make run`
(the same wiring code, devhost/sandbox_wiring.py)."""

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

__all__ = ["azurite_service", "clock", "pc", "pc_keys", "sandbox"]


@pytest.fixture
def app_env(
    monkeypatch: pytest.MonkeyPatch, pc: Harness, sandbox: StripeSandbox, azurite: Azurite
) -> Iterator[pytest.MonkeyPatch]:
    """The app's environment pointing at a Partner Center sandbox, a Stripe sandbox and
    Azurite; yields the monkeypatch so a test can break one setting."""
    values = {
        **partner_center_settings(pc.sandbox.config.data_dir),
        **stripe_settings(sandbox.base_url, StripeCredentials(API_KEY, WEBHOOK_SECRET)),
        "AzureWebJobsStorage": azurite.connection_string,
        "CSPFLOW_PARTNER_CENTER_TIMEOUT_S": "5",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield monkeypatch
    reset_settings()
