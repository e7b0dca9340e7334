"""Drive an orchestrator generator in a test, with the activities' outcomes given up front.

The orchestrator gets a context with the calls cspflow's orchestrators make
(`call_activity[_with_retry]`, `call_sub_orchestrator[_with_retry]`, `task_all`, `task_any`,
`set_custom_status`, `get_input`, `continue_as_new`, `current_utc_datetime`, `instance_id`,
`new_uuid`); every call is recorded, and each yielded task resolves the way the Durable SDK
resolves it: an activity to its outcome (a value, or the exception it failed with after its
retries), a sub-orchestration to its output (or the exception it failed with), `task_all` to
the list of values or to the first failure among its children, and a task yielded again to
the same outcome, a timer at its time, an external event when the test's `events` say it
arrives, `task_any` to the first of its tasks in that virtual time. An outcome may be a function of the call's input (`lambda input: ...`),
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
    children: list[Any]


@dataclass(frozen=True)
class Event:
    """An external event the test raises: `data` named `name`, arriving at `at`."""

    at: datetime
    name: str
    data: Any = None


@dataclass(eq=False)
class TimerTask:
    fire_at: datetime
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(eq=False)
class EventTask:
    name: str
    event: Event | None = None  # the event it received, once it has

    @property
    def result(self) -> Any:
        assert self.event is not None, "this event has not arrived"
        return self.event.data


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
    events: list[Event] = field(default_factory=list)  # still to arrive
    timers: list[datetime] = field(default_factory=list)  # every timer created, in order

    def get_input(self) -> Any:
        return self.input

    def create_timer(self, fire_at: datetime) -> TimerTask:
        self.timers.append(fire_at)
        return TimerTask(fire_at)

    def wait_for_external_event(self, name: str) -> EventTask:
        return EventTask(name)

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

    def task_any(self, tasks: list[Any]) -> AnyTask:
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
        elif isinstance(outcome, list):  # one outcome per call, in order
            made = sum(1 for c in self.calls if c.name == call.name)
            if made > len(outcome):
                raise AssertionError(f"the test gives {len(outcome)} outcomes for {call.name!r}")
            outcome = outcome[made - 1]
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
    def timers(self) -> list[datetime]:
        return self.context.timers

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
        elif isinstance(yielded, TimerTask | EventTask):
            _wait_for(ctx, [yielded])
            to_send = yielded.result if isinstance(yielded, EventTask) else None
        elif isinstance(yielded, AnyTask):
            to_send = _wait_for(ctx, yielded.children)  # an activity task is done at once
        else:
            raise AssertionError(f"the orchestrator yielded {yielded!r}, not a task")


def _wait_for(ctx: Context, tasks: list[Any]) -> Any:
    """Move virtual time to the first of `tasks` to complete and return it. An activity task
    is already complete; an event task takes the earliest pending event of its name; a timer
    fires at its time."""
    for task in tasks:
        if isinstance(task, Task) or (isinstance(task, EventTask) and task.event is not None):
            return task
    candidates: list[tuple[datetime, int, Any]] = []
    for order, task in enumerate(tasks):
        if isinstance(task, TimerTask):
            candidates.append((task.fire_at, order, task))
        elif isinstance(task, EventTask):
            pending = _first(ctx, task.name)
            if pending is not None:
                candidates.append((pending.at, order, task))
    if not candidates:
        raise AssertionError(f"the orchestrator waits forever on {tasks!r}")
    at, _, winner = min(candidates, key=lambda c: (c[0], c[1]))
    if isinstance(winner, EventTask):
        event = _first(ctx, winner.name)
        assert event is not None
        ctx.events.remove(event)
        winner.event = event
    ctx.current_utc_datetime = max(ctx.current_utc_datetime, at)
    return winner


def _first(ctx: Context, name: str) -> Event | None:
    return min((e for e in ctx.events if e.name == name), key=lambda e: e.at, default=None)
