"""The orchestrator kit: what every workflow uses to call activities and read their outcomes.

    @orchestration(bp)
    def connectivity_check(context: df.DurableOrchestrationContext) -> Generator[...]:
        outcomes = yield from settle_all(
            call(context, check_stripe, StripeProbe(), retry="probe"),
            call(context, check_storage, probe, retry="probe"),
        )
        for outcome in outcomes:
            outcome.value      # the activity's output model, when outcome.ok
            outcome.failure    # a shared.errors.Failure otherwise: permanent / transient / ...

- `call` schedules an activity (an `activities.boundary.Activity`, never a name in a string)
  with a retry policy chosen by name from `RETRY_POLICIES`; it returns a `Call`.
- `settle(c)` waits for one call, `settle_all(*calls)` runs several at once and waits for
  them all, keeping every partial result: a failed call never hides the others. Neither
  raises for a failed step: the orchestrator branches on the `Outcome`. (The Python SDK
  schedules a task only when the orchestrator yields it: calls made one after another and
  settled one by one run one after another.)
- `run(...)` is `settle(call(...))`: the sequential step.
- `settle_bounded(starts, limit)` runs many calls at most `limit` at a time, in waves (a
  fan-out with a concurrency cap), every outcome kept, in order.
- `call_sub(context, sub, payload, instance_id=...)` schedules a sub-orchestration (a
  `Suborchestrator`: the orchestrator and its models), settled like an activity: a
  fan-out over thousands of items runs in batches, each a sub-orchestration with its own
  small history.
- `read_input(context, Model)` and `continue_as_new(context, model)`: an orchestrator that
  loops (page after page) starts afresh with a new input instead of growing one history.
- `step_key(context, "charge")` is the key a write activity's idempotency keys derive from.
- `set_status(context, model)` publishes a custom status as a small model.
- `event_model(Model, raw)` reads an external event's data, however the client sent it.
- `at_least(context, "2.0")` is how an orchestrator branches on its instance's version
  (docs/architecture.md, "Changing a workflow that is running").
- `timer_toward(context, when)` is a durable timer at `when`, or at most `MAX_TIMER` ahead:
  a longer wait is a chain, re-armed by the orchestrator's loop.
- `orchestrator_names(blueprints)`: the orchestrators registered with `@orchestration` on
  those blueprints (event intake starts or signals only workflows that exist).

Everything here only calls the orchestration context's own APIs, so it is as deterministic as
the orchestrator that uses it, and safe to replay.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Generic, Literal, TypeVar

import azure.durable_functions as df
from pydantic import BaseModel

from activities.boundary import Activity
from shared.errors import Failure, failure_from_reason

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)
Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]

RetryName = Literal["probe", "standard", "patient"]
# The Python SDK sends only the first interval and the attempt count, so the extension waits
# the same interval between every attempt (backoff coefficient 1).
RETRY_POLICIES: Mapping[RetryName, df.RetryOptions] = {
    # A health check: a blip is forgiven, a dead endpoint reported within seconds.
    "probe": df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3),
    # Most steps: rides out about a minute of 5xx, timeouts or throttling.
    "standard": df.RetryOptions(
        first_retry_interval_in_milliseconds=15_000, max_number_of_attempts=5
    ),
    # Steps that must happen and may wait (a write behind a Partner Center incident): an hour.
    "patient": df.RetryOptions(
        first_retry_interval_in_milliseconds=300_000, max_number_of_attempts=13
    ),
}


@dataclass(frozen=True)
class Suborchestrator(Generic[In, Out]):
    """An orchestrator that others call (`call_sub`): its registered name, the model of its
    input and the model whose JSON it returns. Make one with `suborchestrator(fn, In, Out)`,
    so the name is the function's, never a string."""

    name: str
    input_model: type[In]
    output_model: type[Out]


def suborchestrator(
    fn: Orchestrator, input_model: type[In], output_model: type[Out]
) -> Suborchestrator[In, Out]:
    """The `Suborchestrator` of a generator registered with `@orchestration`."""
    return Suborchestrator(fn.__name__, input_model, output_model)


@dataclass(frozen=True)
class Call(Generic[In, Out]):
    """A step to wait for: the Durable task plus the activity (or sub-orchestration) it runs
    and the orchestration context that made it. The Python SDK schedules a task only when
    the orchestrator yields it (or a `task_all`/`task_any` holding it), so calls made
    together run at once only through `settle_all` and `settle_bounded`."""

    activity: Activity[In, Out] | Suborchestrator[In, Out]
    task: Any  # the SDK's TaskBase (untyped)
    context: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Outcome(Generic[Out]):
    """How one step ended: its value, or why not."""

    activity: str
    value: Out | None = None
    failure: Failure | None = None
    elapsed_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def unwrap(self) -> Out:
        """The value; a failed step raises `StepFailed` (the orchestration fails with it)."""
        if self.value is None:
            raise StepFailed(self.activity, self.failure)
        return self.value


class StepFailed(Exception):
    """An orchestrator chose to fail because a step failed (`Outcome.unwrap`)."""

    def __init__(self, activity: str, failure: Failure | None) -> None:
        reason = failure.describe() if failure else "no value"
        super().__init__(f"{activity}: {reason}")
        self.failure = failure


def call(
    context: df.DurableOrchestrationContext,
    activity: Activity[In, Out],
    payload: In,
    *,
    retry: RetryName | None = "standard",
) -> Call[In, Out]:
    """Schedule `activity` with `payload` (its input model), retried by the named policy
    (None: no retry). The activity starts running at once; settle it later."""
    data = payload.model_dump(mode="json")
    if retry is None:
        task = context.call_activity(activity.name, data)
    else:
        task = context.call_activity_with_retry(activity.name, RETRY_POLICIES[retry], data)
    return Call(activity, task, context)


def call_sub(
    context: df.DurableOrchestrationContext,
    sub: Suborchestrator[In, Out],
    payload: In,
    *,
    instance_id: str,
    retry: RetryName | None = None,
) -> Call[In, Out]:
    """Schedule the sub-orchestration `sub` with `payload` under `instance_id` (derive it
    from the parent's id and the item, so a replay schedules the same instance). No retry by
    default: a sub-orchestration retries its own steps."""
    data = payload.model_dump(mode="json")
    if retry is None:
        task = context.call_sub_orchestrator(sub.name, data, instance_id)
    else:
        task = context.call_sub_orchestrator_with_retry(
            sub.name, RETRY_POLICIES[retry], data, instance_id
        )
    return Call(sub, task, context)


def settle(c: Call[Any, Out]) -> Generator[Any, Any, Outcome[Out]]:
    """Wait for one call and read its outcome. Use with `yield from`."""
    try:
        result = yield c.task
    except Exception as exc:  # the SDK raises a plain Exception carrying the host's text
        return Outcome(c.activity.name, failure=failure_from_reason(str(exc)))
    if isinstance(c.activity, Suborchestrator):
        # A sub-orchestration returns its output model's JSON, not an activity envelope.
        return Outcome(c.activity.name, value=c.activity.output_model.model_validate(result))
    return read_envelope(c.activity, result)


def settle_all(*calls: Call[Any, Any]) -> Generator[Any, Any, list[Outcome[Any]]]:
    """Run every call at once, wait for all of them and return their outcomes in order.

    The Python SDK schedules a task only when it is yielded, and the Durable extension
    awaits each yielded action before it invokes the next: the calls are yielded together,
    as one `task_all` (one action). It fails at the first failed call, so each call is then
    read on its own (a finished one at once, one still running when it finishes): one
    failure never hides the others' results."""
    if len(calls) > 1 and calls[0].context is not None:
        with contextlib.suppress(Exception):  # a call failed: every outcome is read below
            yield calls[0].context.task_all([c.task for c in calls])
    outcomes: list[Outcome[Any]] = []
    for c in calls:
        outcome = yield from settle(c)
        outcomes.append(outcome)
    return outcomes


def settle_bounded(
    starts: Iterable[Callable[[], Call[Any, Out]]], limit: int
) -> Generator[Any, Any, list[Outcome[Out]]]:
    """Run the calls that `starts` make, at most `limit` at a time, in waves: `limit` calls
    at once (one `settle_all`), then the next `limit` once they have all finished. Every
    outcome is kept, in the order of `starts`. Use with `yield from`.

    Waves, not a sliding window: the Durable extension runs an orchestrator's actions in
    order, each awaited before the next is invoked (its out-of-process shim, which devhost
    follows), so a call yielded on its own while others run waits for the one before it,
    and a window refilled one call at a time runs one call at a time. A wave is one
    action."""
    if limit < 1:
        raise ValueError(f"at least one call in flight, not {limit}")
    pending = iter(starts)
    outcomes: list[Outcome[Out]] = []
    while wave := [start() for start in islice(pending, limit)]:
        outcomes += yield from settle_all(*wave)
    return outcomes


def run(
    context: df.DurableOrchestrationContext,
    activity: Activity[In, Out],
    payload: In,
    *,
    retry: RetryName | None = "standard",
) -> Generator[Any, Any, Outcome[Out]]:
    """Call one activity and wait for its outcome: `outcome = yield from run(...)`."""
    return (yield from settle(call(context, activity, payload, retry=retry)))


def read_envelope(activity: Activity[Any, Out], envelope: Any) -> Outcome[Out]:
    """The boundary's envelope as an `Outcome`. A malformed envelope is a bug and raises (the
    orchestration fails loudly, naming the field)."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("ok"), bool):
        raise ValueError(f"{activity.name} returned a malformed envelope (no boolean 'ok')")
    elapsed = envelope.get("elapsed_ms")
    if envelope["ok"]:
        value = activity.output_model.model_validate(envelope.get("value"))
        return Outcome(activity.name, value=value, elapsed_ms=elapsed)
    failure = Failure.model_validate(envelope.get("failure"))
    return Outcome(activity.name, failure=failure, elapsed_ms=elapsed)


def step_key(context: df.DurableOrchestrationContext, step: str) -> str:
    """`<instance id>/<step>`: the key a write activity's idempotency keys derive from. Name
    each write step once per orchestration (a loop adds its index: `charge-2`)."""
    if not step or any(ch.isspace() or ch == "/" for ch in step):
        raise ValueError(f"a step name is one word without '/': {step!r}")
    return f"{context.instance_id}/{step}"


# Durable timers on the Azure Storage backend are kept under 7 days (the extension's
# maxTimerInterval is 6 days); a wait for a renewal months away is a chain of these.
MAX_TIMER = timedelta(days=6)


def timer_toward(context: df.DurableOrchestrationContext, when: datetime) -> Any:
    """A durable timer that fires at `when`, or `MAX_TIMER` from now if `when` is further:
    the caller loops until the time it waits for has come (`context.current_utc_datetime >=
    when`)."""
    return context.create_timer(min(when, context.current_utc_datetime + MAX_TIMER))


def event_model(model: type[Out], raw: Any) -> Out:
    """An external event's data as `model`. The Python SDK's `client.raise_event` sends its
    data JSON-encoded once more than the orchestrator decodes it, so an event raised that
    way arrives as a JSON string, one raised through the HTTP API as the object
    (https://github.com/Azure/azure-functions-durable-python/issues/295): both are read."""
    if isinstance(raw, str | bytes):
        return model.model_validate_json(raw)
    return model.model_validate(raw)


def read_input(context: df.DurableOrchestrationContext, model: type[In]) -> In:
    """The instance's input, validated into its model (an input the model refuses fails the
    orchestration, naming the field: whoever started it sent a bad one)."""
    return model.model_validate(context.get_input())


def continue_as_new(context: df.DurableOrchestrationContext, payload: BaseModel) -> None:
    """Start this instance afresh with `payload` as its input once the orchestrator returns
    (return right after): the history starts empty again, so a loop over pages keeps every
    episode's history as small as one page's."""
    context.continue_as_new(payload.model_dump(mode="json"))


def set_status(context: df.DurableOrchestrationContext, status: BaseModel) -> None:
    """Publish `status` (a small model) as the instance's custom status."""
    context.set_custom_status(status.model_dump(mode="json"))


def at_least(context: df.DurableOrchestrationContext, version: str) -> bool:
    """Whether this instance started at `version` or later (versions compare numerically,
    "1.10" after "1.9"; an instance with no version counts as the oldest)."""
    return _parse_version(getattr(context, "version", None) or "0") >= _parse_version(version)


_ORCHESTRATORS: weakref.WeakKeyDictionary[df.Blueprint, set[str]] = weakref.WeakKeyDictionary()


def orchestration(bp: df.Blueprint) -> Callable[[Orchestrator], Orchestrator]:
    """Register a generator function as the orchestrator named after it (its one parameter
    is `context`) and return it unchanged, so tests can drive it directly."""

    def register(fn: Orchestrator) -> Orchestrator:
        bp.orchestration_trigger(context_name="context", orchestration=fn.__name__)(fn)
        _ORCHESTRATORS.setdefault(bp, set()).add(fn.__name__)
        return fn

    return register


def orchestrator_names(blueprints: Iterable[df.Blueprint]) -> frozenset[str]:
    """The orchestrators the kit registered on `blueprints`: with `workflows.BLUEPRINTS`,
    the workflows this deployment runs (what event intake may start or signal)."""
    return frozenset(name for bp in blueprints for name in _ORCHESTRATORS.get(bp, ()))


def _parse_version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)
