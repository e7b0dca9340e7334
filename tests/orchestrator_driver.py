"""Drive an orchestrator generator in a test, with the activities' outcomes given up front.

The orchestrator gets a context with the calls cspflow's orchestrators make
(`call_activity[_with_retry]`, `task_all`, `task_any`, `create_timer`,
`wait_for_external_event`, `set_custom_status`, `current_utc_datetime`, `instance_id`,
`new_uuid`, `get_input`); every call is recorded, and each yielded task resolves the way the
Durable SDK resolves it: an activity to its outcome (a value, or the exception it failed with
after its retries; a callable outcome is called with the activity's input, a list gives one outcome per call, in order), `task_all` to the
list of values or to the first failure among its children, a timer at its time, an external
event when the test's `events` say it arrives, `task_any` to whichever of its children is
first in that virtual time, and a task yielded again to the same outcome. The full replay
protocol is devhost's business (tests/devhost); this checks the orchestrator's own decisions.

    run = drive(connectivity_check, {"check_stripe": ActivityFailed("down")})
    run.output, run.calls, run.custom_statuses
    run = drive(clock, {...}, events=[Event(T0 + timedelta(hours=2), "sla", {...})])
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


@dataclass
class AnyTask:
    children: list[Any]


@dataclass
class Context:
    outcomes: Mapping[str, Any]
    instance_id: str = "test-instance"
    version: str | None = None
    current_utc_datetime: datetime = T0
    step: timedelta = timedelta(milliseconds=10)  # time passes a little at each resume
    calls: list[ActivityCall] = field(default_factory=list)
    custom_statuses: list[Any] = field(default_factory=list)
    input: Any = None  # what the orchestration was started with
    events: list[Event] = field(default_factory=list)  # still to arrive, in time order
    timers: list[datetime] = field(default_factory=list)  # every timer created, in order

    def get_input(self) -> Any:
        return self.input

    def create_timer(self, fire_at: datetime) -> TimerTask:
        self.timers.append(fire_at)
        return TimerTask(fire_at)

    def wait_for_external_event(self, name: str) -> EventTask:
        return EventTask(name)

    def task_any(self, tasks: list[Any]) -> AnyTask:
        return AnyTask(list(tasks))

    def call_activity(self, name: str, input_: Any = None) -> Task:
        return self._task(ActivityCall(name, input_, None))

    def call_activity_with_retry(
        self, name: str, retry_options: df.RetryOptions, input_: Any = None
    ) -> Task:
        return self._task(ActivityCall(name, input_, retry_options))

    def task_all(self, tasks: list[Task]) -> AllTask:
        return AllTask(list(tasks))

    def set_custom_status(self, status: Any) -> None:
        self.custom_statuses.append(status)

    def new_uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.instance_id}/{len(self.calls)}"))

    def _task(self, call: ActivityCall) -> Task:
        if call.name not in self.outcomes:
            raise AssertionError(f"the test gives no outcome for activity {call.name!r}")
        self.calls.append(call)
        outcome = self.outcomes[call.name]
        if callable(outcome):  # an outcome per input: one activity called for several items
            outcome = outcome(call.input)
        elif isinstance(outcome, list):  # one outcome per call, in order
            made = sum(1 for c in self.calls if c.name == call.name)
            if made > len(outcome):
                raise AssertionError(f"the test gives {len(outcome)} outcomes for {call.name!r}")
            outcome = outcome[made - 1]
        if isinstance(outcome, ActivityFailed):
            outcome = ActivityFailed(f"Activity function '{call.name}' failed: {outcome}")
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
    def timers(self) -> list[datetime]:
        return self.context.timers


def drive(
    orchestrator: Callable[[Any], Generator[Any, Any, Any]],
    outcomes: Mapping[str, Any],
    **context: Any,
) -> Run:
    """Run `orchestrator` to completion; an exception it lets escape propagates."""
    ctx = Context(outcomes, **context)
    gen = orchestrator(ctx)
    to_send: Any = None
    to_throw: Exception | None = None
    while True:
        try:
            yielded = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
        except StopIteration as stop:
            return Run(stop.value, ctx)
        ctx.current_utc_datetime += ctx.step
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
            to_send = _wait_for(ctx, yielded.children)
        else:
            raise AssertionError(f"the orchestrator yielded {yielded!r}, not a task")


def _wait_for(ctx: Context, tasks: list[Any]) -> Any:
    """Move virtual time to the first of `tasks` to complete and return it. An event task
    takes the earliest pending event of its name; a timer fires at its time; an activity task
    is already complete."""
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
