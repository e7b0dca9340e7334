from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.mail.server import MailSandbox, Options

T0 = datetime(2030, 6, 1, 9, 30, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def fixed_clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def plain(tmp_path: Path, fixed_clock: FixedClock) -> Iterator[MailSandbox]:
    """A sandbox without TLS or AUTH, on a fixed clock."""
    with MailSandbox(Options(data_dir=tmp_path / "mail", clock=fixed_clock)) as sb:
        yield sb
