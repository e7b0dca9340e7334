"""Shared fixtures for the engine tests: app loading and engines on temp SQLite files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.app import LoadedApp, load_app
from devhost.clock import HostClock
from devhost.engine import DurableEngine
from devhost.speedups import memoize_timestamp_parsing, restore_timestamp_parsing

APPS = Path(__file__).parent / "apps"


@pytest.fixture
def app_path() -> Callable[[str], Path]:
    return lambda name: APPS / name


@pytest.fixture(params=["compact", "full"])
def make_engine(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., DurableEngine]]:
    """Engines on temp databases. Every test runs twice: as devhost runs by default (compact
    contexts, memoized timestamp parsing) and exactly as the extension would (full
    contexts, the stock SDK)."""
    compact = request.param == "compact"
    if compact:
        memoize_timestamp_parsing()
    else:
        restore_timestamp_parsing()
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
        kwargs.setdefault("compact_context", compact)
        kwargs.setdefault("fast_replay", compact)
        engine = DurableEngine(loaded, tmp_path / db, clock=clock, **kwargs)  # type: ignore[arg-type]
        engines.append(engine)
        if start:
            engine.start()
        return engine

    yield make
    for engine in engines:
        engine.close()
