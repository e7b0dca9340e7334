from collections.abc import Iterator

import pytest
import stripe

from sandbox.stripe.server import StripeSandbox
from shared.clock import ManualClock

from .harness import T0, client, running_sandbox


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sandbox(tmp_path, clock) -> Iterator[StripeSandbox]:
    with running_sandbox(tmp_path, clock) as sb:
        yield sb


@pytest.fixture
def sdk(sandbox) -> stripe.StripeClient:
    return client(sandbox.base_url)
