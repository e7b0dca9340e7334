"""The orchestrator kit: calls by activity object, outcomes as values, every partial result
kept, write steps keyed, status as a model, versions compared as versions."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import pytest

from activities.boundary import ActivityContext, activity
from shared.errors import Failure
from shared.models import DomainModel
from tests.orchestrator_driver import ActivityFailed, drive, refused, retries_spent, succeeded
from workflows.durable import (
    RETRY_POLICIES,
    Outcome,
    StepFailed,
    at_least,
    call,
    event_model,
    orchestration,
    run,
    set_status,
    settle_all,
    step_key,
)

bp = df.Blueprint()


class Ask(DomainModel):
    n: int


class Answer(DomainModel):
    n: int


@activity(bp)
def double(ask: Ask, ctx: ActivityContext) -> Answer:
    return Answer(n=ask.n * 2)


@activity(bp)
def square(ask: Ask, ctx: ActivityContext) -> Answer:
    return Answer(n=ask.n**2)


DENIED = Failure(kind="permanent", error_type="PermanentError", code="no", message="denied")
DOWN = Failure(kind="transient", error_type="TransientError", code="503", message="down")


def fan_out(context: Any) -> Generator[Any, Any, list[Outcome[Answer]]]:
    return (
        yield from settle_all(
            call(context, double, Ask(n=3)), call(context, square, Ask(n=3), retry="probe")
        )
    )


def test_settle_all_returns_every_outcome_in_call_order():
    result = drive(fan_out, {"double": succeeded(Answer(n=6)), "square": succeeded(Answer(n=9))})
    assert [o.value for o in result.output] == [Answer(n=6), Answer(n=9)]
    assert [(c.name, c.input) for c in result.calls] == [("double", {"n": 3}), ("square", {"n": 3})]


def test_a_failure_never_hides_the_other_results():
    result = drive(fan_out, {"double": retries_spent(DOWN), "square": succeeded(Answer(n=9))})
    first, second = result.output
    assert (first.ok, first.failure, first.value) == (False, DOWN, None)
    assert (second.ok, second.value) == (True, Answer(n=9))


def test_a_permanent_failure_is_an_outcome_with_the_time_it_took():
    result = drive(fan_out, {"double": refused(DENIED, 7), "square": refused(DENIED, 8)})
    assert [(o.failure, o.elapsed_ms) for o in result.output] == [(DENIED, 7), (DENIED, 8)]


def test_calls_use_the_named_retry_policy_or_none():
    def no_retry(context: Any) -> Generator[Any, Any, Outcome[Answer]]:
        return (yield from run(context, double, Ask(n=1), retry=None))

    assert (
        drive(fan_out, {"double": succeeded({"n": 6}), "square": succeeded({"n": 9})})
        .calls[1]
        .retry
        is RETRY_POLICIES["probe"]
    )
    assert drive(no_retry, {"double": succeeded({"n": 2})}).calls[0].retry is None


def test_unwrap_gives_the_value_or_fails_the_orchestration_with_the_reason():
    def strict(context: Any) -> Generator[Any, Any, int]:
        outcome = yield from run(context, double, Ask(n=2))
        return outcome.unwrap().n

    assert drive(strict, {"double": succeeded({"n": 4})}).output == 4
    with pytest.raises(StepFailed, match="double: PermanentError: denied"):
        drive(strict, {"double": refused(DENIED)})


def test_a_failure_from_outside_the_boundary_is_unexpected():
    result = drive(
        fan_out, {"double": ActivityFailed("host gave up"), "square": succeeded({"n": 9})}
    )
    assert result.output[0].failure.kind == "unexpected"


@pytest.mark.parametrize(
    ("instance", "step", "key"),
    [("order-17", "charge", "order-17/charge"), ("renewal-9", "remind-2", "renewal-9/remind-2")],
)
def test_a_step_key_is_the_instance_and_the_step(instance, step, key):
    context = type("Context", (), {"instance_id": instance})()
    assert step_key(context, step) == key


@pytest.mark.parametrize("step", ["", "two words", "a/b"])
def test_a_step_name_is_one_word(step):
    context = type("Context", (), {"instance_id": "x"})()
    with pytest.raises(ValueError, match="one word"):
        step_key(context, step)


class Progress(DomainModel):
    state: str
    done: int


def test_the_custom_status_is_the_models_json():
    def report(context: Any) -> Generator[Any, Any, None]:
        set_status(context, Progress(state="working", done=2))
        yield from ()

    assert drive(report, {}).custom_statuses == [{"state": "working", "done": 2}]


@pytest.mark.parametrize(
    ("version", "since", "expected"),
    [
        ("1.0", "1.0", True),
        ("1.0", "1", True),
        ("1.1", "1.0", True),
        ("1.0", "1.1", False),
        ("1.10", "1.9", True),  # numerically, not as text
        ("2.0", "10.0", False),
        (None, "1.0", False),  # an instance with no version is the oldest
        ("", "0.1", False),
    ],
)
def test_versions_compare_numerically(version, since, expected):
    context = type("Context", (), {"version": version})()
    assert at_least(context, since) is expected


def test_orchestration_registers_the_function_and_returns_it_unchanged():
    blueprint = df.Blueprint()

    def my_flow(context: Any) -> Generator[Any, Any, int]:
        yield from ()
        return 1

    assert orchestration(blueprint)(my_flow) is my_flow
    app = df.DFApp()
    app.register_functions(blueprint)
    (function,) = app.get_functions()
    assert function.get_function_name() == "my_flow"
    assert function.get_bindings_dict()["bindings"][0]["orchestration"] == "my_flow"


@pytest.mark.parametrize(
    "raw",
    [{"n": 3}, '{"n": 3}', b'{"n": 3}'],
    ids=["object (HTTP API)", "JSON text (client.raise_event)", "bytes"],
)
def test_an_event_is_read_however_the_client_encoded_it(raw):
    assert event_model(Ask, raw) == Ask(n=3)
