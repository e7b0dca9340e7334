"""The book against a real Azurite: one per test worker, a fresh table prefix per test (so
every test starts from an empty book without deleting tables)."""

from uuid import uuid4

import pytest

from devhost.azurite import Azurite
from shared.book import Book
from shared.clock import ManualClock
from shared.config import Settings
from tests.devhost.azurite_fixture import azurite_service
from tests.shared.book.records import T0

__all__ = ["azurite_service"]


@pytest.fixture
def settings(azurite: Azurite) -> Settings:
    return Settings.model_validate(
        {"AzureWebJobsStorage": azurite.connection_string, "table_prefix": f"t{uuid4().hex[:20]}"}
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def book(settings: Settings, clock: ManualClock) -> Book:
    return Book(settings, clock=clock)
