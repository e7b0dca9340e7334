"""A real Azurite on free ports with a temp data folder.

Import `azurite_service` into a test module to get the `azurite` fixture (tests/devhost/conftest.py
belongs to the engine's tests).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite, start_azurite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", name="azurite")
def azurite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    service = start_azurite(ROOT, tmp_path_factory.mktemp("azurite"))
    yield service
    service.stop()
