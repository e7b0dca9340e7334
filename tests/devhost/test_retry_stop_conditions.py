"""A retry policy that would stop before maxNumberOfAttempts (an expired
retryTimeoutInMilliseconds, or a zero maxRetryIntervalInMilliseconds) cannot be followed by
the Python SDK, whose retry task re-schedules after every timer until maxNumberOfAttempts
(azure-functions-durable, azure/durable_functions/models/Task.py:
RetryAbleTask.try_set_value). Stopping early would leave the orchestrator
waiting for an attempt the host never schedules; the instance fails and says why instead."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from devhost.clock import VirtualClock
from devhost.engine import DurableEngine
from devhost.history import EventType
from devhost.status import RuntimeStatus
from tests.devhost.helpers import T0

MakeEngine = Callable[..., DurableEngine]


@pytest.mark.parametrize(
    ("extra", "attempts_made"),
    [
        # 5 s, then 10 s: at the third failure (t = 15 s) the 12 s timeout has passed.
        ({"backoffCoefficient": 2, "retryTimeoutInMilliseconds": 12000}, 3),
        # A zero interval means "do not retry" to RetryInterceptor.
        ({"maxRetryIntervalInMilliseconds": 0}, 1),
    ],
)
def test_a_retry_policy_that_stops_early_fails_the_instance_instead_of_hanging(
    make_engine: MakeEngine, extra: dict[str, float], attempts_made: int
) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    spec = {"first_ms": 5000, "attempts": 5, "extra": extra}
    instance_id = engine.start_new("backoff_retry", input=json.dumps(spec))
    status = engine.wait_for_completion(instance_id, 10)
    assert status.runtime_status is RuntimeStatus.Failed
    assert status.output == (
        "Orchestrator function 'backoff_retry' failed: the retry policy of 'Boom' stops after "
        f"{attempts_made} of 5 attempts (retryTimeoutInMilliseconds or "
        "maxRetryIntervalInMilliseconds), but the Python SDK retries until maxNumberOfAttempts "
        "and would wait forever. Last failure: Activity function 'Boom' failed: boom"
    )
    scheduled = [
        e for e in engine.history(instance_id) if e["EventType"] == EventType.TaskScheduled
    ]
    assert len(scheduled) == attempts_made


def test_a_retry_timeout_that_never_expires_changes_nothing(make_engine: MakeEngine) -> None:
    engine = make_engine("review", clock=VirtualClock(T0))
    spec = {"first_ms": 1000, "attempts": 3, "extra": {"retryTimeoutInMilliseconds": 3_600_000}}
    instance_id = engine.start_new("backoff_retry", input=json.dumps(spec))
    status = engine.wait_for_completion(instance_id, 10)
    assert status.runtime_status is RuntimeStatus.Failed
    assert status.output.startswith(
        "Orchestrator function 'backoff_retry' failed: Activity function 'Boom' failed: boom"
    )
    timers = [e for e in engine.history(instance_id) if e["EventType"] == EventType.TimerCreated]
    assert len(timers) == 3  # two retry delays and the extra timer
