"""The example API on a command ledger in a real Azurite (one table per test)."""

import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableServiceClient

from devhost.azurite import Azurite
from tests.triggers.api.example_api import ExampleApp, ExampleClient, make_example_app
from triggers.api.commands import CommandLedger


@pytest.fixture
def tables(azurite: Azurite) -> Iterator[TableServiceClient]:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    yield service
    service.close()


@pytest.fixture
def ledger(tables: TableServiceClient) -> CommandLedger:
    return CommandLedger(tables, f"commands{uuid.uuid4().hex[:12]}")


@pytest.fixture
def example(request: pytest.FixtureRequest) -> ExampleApp:
    """The example app; Azurite starts only if a request reaches the command ledger."""
    return make_example_app(lambda: request.getfixturevalue("ledger"))


@pytest.fixture
def client(example: ExampleApp) -> ExampleClient:
    return ExampleClient(example.app)
