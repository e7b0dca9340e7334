"""Drive an orchestrator generator in a test, with the activities' outcomes given up front.

The orchestrator gets a context with the calls cspflow's orchestrators make
(`call_activity[_with_retry]`, `call_sub_orchestrator[_with_retry]`, `task_all`, `task_any`,
`set_custom_status`, `get_input`, `continue_as_new`, `current_utc_datetime`, `instance_id`,
`new_uuid`); every call is recorded, and each yielded task resolves the way the Durable SDK
resolves it: an activity to its outcome (a value, or the exception it failed with after its
retries), a sub-orchestration to its output (or the exception it failed with), `task_all` to
the list of values or to the first failure among its children, and a task yielded again to
the same outcome, `task_any` to the first of its tasks. An outcome may be a function of the call's input (`lambda input: ...`),
for steps called many times with different inputs. An orchestrator that continues as new is
started again with its new input, as the host does; `run.episodes` holds each episode's
input and the calls it made. The full replay protocol is devhost's business
(tests/devhost); this checks the orchestrator's own decisions.

    run = drive(connectivity_check, {"check_stripe": ActivityFailed("down")})
    run.output, run.calls, run.custom_statuses, run.episodes
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from shared.errors import Failure, StepError

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class ActivityFailed(Exception):
    """What an orchestrator sees when an activity failed for good: the SDK raises a plain
    Exception whose text starts with `Activity function '<name>' failed: <message>`."""


class SubOrchestrationFailed(Exception):
    """What an orchestrator sees when a sub-orchestration failed: `Orchestrator function
    '<name>' failed: <message>`."""


def succeeded(value: Any, elapsed_ms: int | None = 12) -> dict[str, Any]:
    """The envelope the activity boundary returns for `value` (a model or its JSON)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return {"ok": True, "value": value, "elapsed_ms": elapsed_ms}


def refused(failure: Failure, elapsed_ms: int | None = 40) -> dict[str, Any]:
    """The envelope of a permanent failure (the activity completed with its answer)."""
    return {"ok": False, "failure": failure.model_dump(mode="json"), "elapsed_ms": elapsed_ms}


def retries_spent(failure: Failure) -> ActivityFailed:
    """A transient or unexpected failure that outlasted the retry policy, as the boundary's
    StepError reaches the orchestrator (its message, then the stack trace)."""
    return ActivityFailed(f"{StepError(failure)} \n Traceback (most recent call last): ...")


@dataclass
class ActivityCall:
    name: str
    input: Any
    retry: df.RetryOptions | None
    instance_id: str | None = None  # a sub-orchestration's


@dataclass
class Task:
    call: ActivityCall
    outcome: Any  # a value, or an Exception to raise into the orchestrator

    @property
    def failed(self) -> bool:
        return isinstance(self.outcome, Exception)


@dataclass
class AllTask:
    children: list[Task]


@dataclass
class AnyTask:
    children: list[Task]


_NOT_CONTINUED = object()


@dataclass
class Episode:
    """One run of the orchestrator function between two continue-as-new."""

    input: Any
    calls: list[ActivityCall] = field(default_factory=list)


@dataclass
class Context:
    outcomes: Mapping[str, Any]
    instance_id: str = "test-instance"
    version: str | None = None
    current_utc_datetime: datetime = T0
    step: timedelta = timedelta(milliseconds=10)  # time passes a little at each resume
    input: Any = None
    calls: list[ActivityCall] = field(default_factory=list)
    custom_statuses: list[Any] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    yields: list[str] = field(default_factory=list)  # what the orchestrator waited on, in order
    continued_with: Any = _NOT_CONTINUED

    def get_input(self) -> Any:
        return self.input

    def continue_as_new(self, input_: Any) -> None:
        self.continued_with = input_

    def call_activity(self, name: str, input_: Any = None) -> Task:
        return self._task(ActivityCall(name, input_, None))

    def call_activity_with_retry(
        self, name: str, retry_options: df.RetryOptions, input_: Any = None
    ) -> Task:
        return self._task(ActivityCall(name, input_, retry_options))

    def call_sub_orchestrator(
        self, name: str, input_: Any = None, instance_id: str | None = None
    ) -> Task:
        return self._task(ActivityCall(name, input_, None, instance_id))

    def call_sub_orchestrator_with_retry(
        self,
        name: str,
        retry_options: df.RetryOptions,
        input_: Any = None,
        instance_id: str | None = None,
    ) -> Task:
        return self._task(ActivityCall(name, input_, retry_options, instance_id))

    def task_all(self, tasks: list[Task]) -> AllTask:
        return AllTask(list(tasks))

    def task_any(self, tasks: list[Task]) -> AnyTask:
        return AnyTask(list(tasks))

    def set_custom_status(self, status: Any) -> None:
        self.custom_statuses.append(status)

    def new_uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.instance_id}/{len(self.calls)}"))

    def _task(self, call: ActivityCall) -> Task:
        if call.name not in self.outcomes:
            raise AssertionError(f"the test gives no outcome for activity {call.name!r}")
        self.calls.append(call)
        if self.episodes:
            self.episodes[-1].calls.append(call)
        outcome = self.outcomes[call.name]
        if callable(outcome) and not isinstance(outcome, Exception):
            outcome = outcome(call.input)
        if isinstance(outcome, ActivityFailed):
            outcome = ActivityFailed(f"Activity function '{call.name}' failed: {outcome}")
        elif isinstance(outcome, SubOrchestrationFailed):
            outcome = SubOrchestrationFailed(
                f"Orchestrator function '{call.name}' failed: {outcome}"
            )
        return Task(call, outcome)


@dataclass
class Run:
    output: Any
    context: Context

    @property
    def calls(self) -> list[ActivityCall]:
        return self.context.calls

    @property
    def custom_statuses(self) -> list[Any]:
        return self.context.custom_statuses

    @property
    def episodes(self) -> list[Episode]:
        return self.context.episodes


MAX_EPISODES = 10_000


def drive(
    orchestrator: Callable[[Any], Generator[Any, Any, Any]],
    outcomes: Mapping[str, Any],
    **context: Any,
) -> Run:
    """Run `orchestrator` to completion, episode after episode while it continues as new;
    an exception it lets escape propagates."""
    ctx = Context(outcomes, **context)
    for _ in range(MAX_EPISODES):
        ctx.episodes.append(Episode(ctx.input))
        output = _episode(orchestrator, ctx)
        if ctx.continued_with is _NOT_CONTINUED:
            return Run(output, ctx)
        ctx.input, ctx.continued_with = ctx.continued_with, _NOT_CONTINUED
    raise AssertionError(f"the orchestrator continued as new {MAX_EPISODES} times")


def _episode(orchestrator: Callable[[Any], Generator[Any, Any, Any]], ctx: Context) -> Any:
    gen = orchestrator(ctx)
    to_send: Any = None
    to_throw: Exception | None = None
    while True:
        try:
            yielded = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
        except StopIteration as stop:
            return stop.value
        ctx.current_utc_datetime += ctx.step
        ctx.yields.append(type(yielded).__name__)
        to_send, to_throw = None, None
        if isinstance(yielded, Task):
            if yielded.failed:
                to_throw = yielded.outcome
            else:
                to_send = yielded.outcome
        elif isinstance(yielded, AllTask):
            failure = next((t.outcome for t in yielded.children if t.failed), None)
            if failure is not None:
                to_throw = failure
            else:
                to_send = [t.outcome for t in yielded.children]
        elif isinstance(yielded, AnyTask):
            to_send = yielded.children[0]  # every task is done at once here: the first wins
        else:
            raise AssertionError(f"the orchestrator yielded {yielded!r}, not a task")
