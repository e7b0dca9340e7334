"""Shared fixtures for the engine tests: app loading and engines on temp SQLite files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.app import LoadedApp, load_app
from devhost.clock import HostClock
from devhost.engine import DurableEngine

APPS = Path(__file__).parent / "apps"


@pytest.fixture
def app_path() -> Callable[[str], Path]:
    return lambda name: APPS / name


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Callable[..., DurableEngine]]:
    engines: list[DurableEngine] = []

    def make(
        app: str | LoadedApp,
        *,
        clock: HostClock | None = None,
        db: str = "engine.db",
        start: bool = True,
        **kwargs: object,
    ) -> DurableEngine:
        loaded = load_app(APPS / app) if isinstance(app, str) else app
        engine = DurableEngine(loaded, tmp_path / db, clock=clock, **kwargs)  # type: ignore[arg-type]
        engines.append(engine)
        if start:
            engine.start()
        return engine

    yield make
    for engine in engines:
        engine.close()
