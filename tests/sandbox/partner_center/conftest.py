from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.partner_center.harness import Harness, Receiver, key_template, start_harness


@pytest.fixture(scope="session")
def pc_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return key_template(tmp_path_factory.mktemp("pc-keys"))


@pytest.fixture
def pc(pc_keys: Path, tmp_path: Path) -> Iterator[Harness]:
    harness = start_harness(pc_keys, tmp_path / "pc")
    yield harness
    harness.sandbox.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_pc(pc_keys: Path, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """A sandbox with non-default options (renewal lock off, delays, duplicates...)."""
    started: list[Harness] = []

    def make(**config: Any) -> Harness:
        harness = start_harness(pc_keys, tmp_path / f"pc{len(started)}", **config)
        started.append(harness)
        return harness

    yield make
    for harness in started:
        harness.sandbox.stop()
