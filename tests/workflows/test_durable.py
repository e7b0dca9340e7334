"""The orchestrator kit: calls by activity object, outcomes as values, every partial result
kept, write steps keyed, status as a model, versions compared as versions."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import pytest
from pydantic import ValidationError

from activities.boundary import ActivityContext, activity
from shared.errors import Failure
from shared.models import DomainModel
from tests.orchestrator_driver import (
    ActivityFailed,
    SubOrchestrationFailed,
    drive,
    refused,
    retries_spent,
    succeeded,
)
from workflows.durable import (
    RETRY_POLICIES,
    Outcome,
    StepFailed,
    at_least,
    call,
    call_sub,
    continue_as_new,
    event_model,
    orchestration,
    read_input,
    run,
    set_status,
    settle,
    settle_all,
    settle_bounded,
    step_key,
    suborchestrator,
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


def test_calls_settled_together_are_scheduled_together():
    # The SDK schedules only what is yielded: one task_all, then each outcome read.
    result = drive(fan_out, {"double": succeeded(Answer(n=6)), "square": succeeded(Answer(n=9))})
    assert result.context.yields == ["AllTask", "Task", "Task"]


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


# fan-outs with a cap, sub-orchestrations, continue-as-new ------------------------------------


class Window:
    """A context that records what runs when: the tasks of a task_all are scheduled together
    and finish together (a wave); a task yielded alone runs then."""

    instance_id = "window"

    def __init__(self) -> None:
        self.in_flight: set[int] = set()
        self.done: set[int] = set()
        self.peak = 0
        self.log: list[tuple[str, int]] = []

    def call_activity_with_retry(self, name: str, retry: Any, input_: Any) -> tuple[str, int]:
        return ("task", input_["n"])

    def task_all(self, tasks: list[tuple[str, int]]) -> tuple[str, list[tuple[str, int]]]:
        return ("all", tasks)

    def run(self, numbers: list[int]) -> None:
        fresh = [n for n in numbers if n not in self.done]
        for n in fresh:
            self.in_flight.add(n)
            self.log.append(("start", n))
        self.peak = max(self.peak, len(self.in_flight))
        for n in fresh:
            self.in_flight.discard(n)
            self.done.add(n)
            self.log.append(("done", n))


def drive_window(orchestrator: Any, context: Window) -> Any:
    gen = orchestrator(context)
    sent: Any = None
    while True:
        try:
            kind, value = gen.send(sent)
        except StopIteration as stop:
            return stop.value
        if kind == "all":
            context.run([n for _, n in value])
            sent = [succeeded(Answer(n=n * 2)) for _, n in value]
        else:
            context.run([value])
            sent = succeeded(Answer(n=value * 2))


@pytest.mark.parametrize(("items", "limit", "peak"), [(7, 3, 3), (2, 5, 2), (4, 1, 1)])
def test_settle_bounded_runs_waves_of_at_most_limit_calls(items, limit, peak):
    def capped(context: Any) -> Generator[Any, Any, list[Outcome[Answer]]]:
        starts = [lambda n=n: call(context, double, Ask(n=n)) for n in range(items)]
        return (yield from settle_bounded(starts, limit))

    window = Window()
    outcomes = drive_window(capped, window)
    assert [o.value for o in outcomes] == [Answer(n=2 * n) for n in range(items)]
    assert window.peak == peak
    # wave k + 1 starts once every call of wave k has finished
    for k in range(limit, items):
        wave_start = k - k % limit
        for earlier in range(wave_start - limit, wave_start):
            assert window.log.index(("done", earlier)) < window.log.index(("start", k))


def test_settle_bounded_keeps_every_outcome_and_refuses_an_empty_window():
    def capped(context: Any) -> Generator[Any, Any, list[Outcome[Answer]]]:
        return (
            yield from settle_bounded(
                [lambda: call(context, double, Ask(n=1)), lambda: call(context, square, Ask(n=3))],
                1,
            )
        )

    run_ = drive(capped, {"double": retries_spent(DOWN), "square": succeeded(Answer(n=9))})
    assert [(o.ok, o.value) for o in run_.output] == [(False, None), (True, Answer(n=9))]
    with pytest.raises(ValueError, match="at least one"):
        drive(lambda context: settle_bounded([], 0), {})


def halve(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    ask = read_input(context, Ask)
    outcome = yield from run(context, double, Ask(n=ask.n))
    return Answer(n=outcome.unwrap().n // 4).model_dump(mode="json")


HALVE = suborchestrator(halve, Ask, Answer)


def test_a_sub_orchestration_is_named_after_its_function_and_read_as_its_output_model():
    def parent(context: Any) -> Generator[Any, Any, list[Outcome[Answer]]]:
        return (
            yield from settle_all(
                call_sub(context, HALVE, Ask(n=8), instance_id="parent-1"),
                call_sub(context, HALVE, Ask(n=2), instance_id="parent-2", retry="probe"),
            )
        )

    result = drive(
        parent,
        {"halve": lambda given: drive(halve, {"double": succeeded({"n": 2 * given["n"]})},
                                      input=given).output},
    )  # fmt: skip
    assert HALVE.name == "halve"
    assert [o.value for o in result.output] == [Answer(n=4), Answer(n=1)]
    assert [(c.name, c.input, c.instance_id) for c in result.calls] == [
        ("halve", {"n": 8}, "parent-1"),
        ("halve", {"n": 2}, "parent-2"),
    ]
    assert [c.retry for c in result.calls] == [None, RETRY_POLICIES["probe"]]


def test_a_failed_sub_orchestration_is_an_outcome_not_an_exception():
    def parent(context: Any) -> Generator[Any, Any, Outcome[Answer]]:
        return (yield from settle(call_sub(context, HALVE, Ask(n=1), instance_id="p-1")))

    result = drive(parent, {"halve": SubOrchestrationFailed("StepFailed: double: denied")})
    assert result.output.failure.kind == "unexpected"
    assert "double: denied" in result.output.failure.message


def test_continue_as_new_starts_the_orchestrator_again_with_the_new_input():
    def count_down(context: Any) -> Generator[Any, Any, int]:
        ask = read_input(context, Ask)
        yield from run(context, double, ask)
        if ask.n > 0:
            continue_as_new(context, Ask(n=ask.n - 1))
            return -1
        return 0

    result = drive(count_down, {"double": succeeded({"n": 0})}, input={"n": 2})
    assert result.output == 0
    assert [e.input for e in result.episodes] == [{"n": 2}, {"n": 1}, {"n": 0}]
    assert [len(e.calls) for e in result.episodes] == [1, 1, 1]


def test_an_input_the_model_refuses_fails_the_orchestration_naming_the_field():
    def strict(context: Any) -> Generator[Any, Any, int]:
        yield from ()
        return read_input(context, Ask).n

    with pytest.raises(ValidationError, match="n"):
        drive(strict, {}, input={"n": "many"})
