"""Fixtures for end-to-end tests: `stack` (the whole local stack, one per xdist worker) and
`ns` (the test's own namespace on it). How to write a test with them: README.md here."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import ACTIVE, LocalStack, Namespace, start_stack

_LOG_AT = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Azurite, the sandboxes and devhost (the repository's function_app.py) on free ports,
    in virtual time, function keys enforced. Session-scoped: under xdist, once per worker,
    shared by every e2e test that worker runs, one after another."""
    with start_stack(tmp_path_factory.mktemp("e2e-stack")) as running:
        yield running


@pytest.fixture
def ns(stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[Namespace]:
    """This test's namespace on the shared stack. On the way out, every orchestration
    created during the test that is still active is terminated, so none of its timers moves
    the shared clock under the next test."""
    stack.check_alive()
    request.node.stash[_LOG_AT] = stack.log_position
    namespace = Namespace.new(started_at=stack.now())
    yield namespace
    stack.check_alive()
    since = namespace.started_at.replace(microsecond=0)  # status times are whole seconds
    for status in stack.instances(created_from=since, statuses=ACTIVE):
        stack.terminate(status["instanceId"], reason=f"{namespace.prefix}: test over")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed e2e test's report carries what the stack printed while it ran."""
    report: pytest.TestReport = yield
    running = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(running, LocalStack):
        since = item.stash.get(_LOG_AT, 0)
        report.sections.append(("e2e stack log (this test)", running.log(since, n=200)))
    return report
