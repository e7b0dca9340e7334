from collections.abc import Iterator

import pytest

from sandbox.stripe.server import StripeSandbox
from shared.clock import ManualClock
from shared.payments import StripePayments
from tests.sandbox.stripe.harness import API_KEY, T0, running_sandbox


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sandbox(tmp_path, clock) -> Iterator[StripeSandbox]:
    with running_sandbox(tmp_path, clock) as sb:
        yield sb


@pytest.fixture
def payments(sandbox) -> StripePayments:
    return StripePayments(API_KEY, sandbox.base_url)
