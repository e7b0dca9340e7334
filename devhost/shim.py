"""Turn an orchestrator reply into the host's new decisions, as the Durable extension does.

The extension does not diff action JSON: every episode it re-executes the reply's action
list through a DTFx context (`OutOfProcOrchestrationShim`, V2/V3 semantics: invoke each
top-level action and await it before invoking the next) while DTFx replays history, and the
calls whose sequence number has no decision event in history are the new decisions. This
module is that shim, in miniature and deterministic:

- one id counter per execution: activity, timer, sub-orchestration, entity call/signal each
  take the next integer when *invoked*;
- completions in history (in order) resolve futures; continuations (the next top-level action,
  retry timers and re-schedules) run at that moment, so ids come out in DTFx's order, retries
  included (`RetryInterceptor`: delay = first * coefficient^attempt capped by the max
  interval; after the last failed attempt one more timer at "now", then the failure);
- external events resolve waiters by name, FIFO; an event with no waiter is buffered (the SDK
  does the same) and reported back as unconsumed so continue-as-new can carry it over.

A decision the replay makes that contradicts the recorded history (another type or name
under the same id), or a recorded decision the replay never makes, is non-determinism and
fails the instance with DTFx's wording.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost.history import DECISION_TYPES, Event, EventType, event, fmt_time, parse_time

# Action types (`models/actions/ActionType.py`).
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
WHEN_ANY = 11
WHEN_ALL = 12

HTTP_ACTIVITY = "BuiltIn::HttpActivity"

# Keyed by the plain int, as events carry it (looking up an int in an IntEnum-keyed dict
# works, but building the enum per event is what the replay loop must not do).
_COMPLETIONS: dict[int, tuple[str, bool]] = {
    int(EventType.TaskCompleted): ("TaskScheduledId", True),
    int(EventType.TaskFailed): ("TaskScheduledId", False),
    int(EventType.SubOrchestrationInstanceCompleted): ("TaskScheduledId", True),
    int(EventType.SubOrchestrationInstanceFailed): ("TaskScheduledId", False),
    int(EventType.TimerFired): ("TimerId", True),
}
_ORCHESTRATOR_STARTED = int(EventType.OrchestratorStarted)
_EXECUTION_STARTED = int(EventType.ExecutionStarted)
_EVENT_RAISED = int(EventType.EventRaised)
_DECISION_INTS = frozenset(int(kind) for kind in DECISION_TYPES)


class NonDeterminismError(Exception):
    """The orchestrator's calls no longer match its recorded history."""


class RetryPolicyError(Exception):
    """A retry policy the Python SDK cannot follow: it would stop retrying before
    maxNumberOfAttempts, while the SDK's retry task re-schedules after every timer until then
    (`models/Task.py: RetryAbleTask.try_set_value`) and would wait forever."""


class _Future:
    __slots__ = ("callbacks", "done", "ok", "value")

    def __init__(self) -> None:
        self.done = False
        self.ok = True
        self.value: Any = None
        self.callbacks: list[Callable[[_Future], None]] = []

    def resolve(self, ok: bool, value: Any = None) -> None:
        if self.done:
            return
        self.done, self.ok, self.value = True, ok, value
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback(self)

    def then(self, callback: Callable[[_Future], None]) -> None:
        if self.done:
            callback(self)
        else:
            self.callbacks.append(callback)


@dataclass
class ShimResult:
    new_decisions: list[Event] = field(default_factory=list)
    """Decision events not yet in history, in id order, stamped with the episode time."""
    canceled_timers: set[int] = field(default_factory=set)
    unconsumed_events: list[Event] = field(default_factory=list)
    continue_as_new: bool = False
    continue_as_new_input: Any = None


class Shim:
    """One replay of an action list against a history. Use `replay(...)`, then, for the
    instance's next episode, `resume(...)`."""

    def __init__(
        self,
        history: list[Event],
        *,
        execution_id: str,
        now: datetime,
        new_guid: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._history = history
        self._execution_id = execution_id
        self._now_text: str | None = None
        self._now_parsed = now
        self._episode_now = now
        self._new_guid = new_guid
        self._counter = 0
        decision_types = _DECISION_INTS
        self._recorded: dict[int, Event] = {
            ev["EventId"]: ev for ev in history if ev["EventType"] in decision_types
        }
        self._claimed: set[int] = set()
        self._pending: dict[int, _Future] = {}
        self._waiters: dict[str, deque[_Future]] = {}
        self._buffered: dict[str, deque[Event]] = {}
        self._actions: list[dict[str, Any]] = []
        self._started = False
        self._top_waiting = False
        self.result = ShimResult()

    @property
    def _now(self) -> datetime:
        """The replayed episode's time (its OrchestratorStarted), parsed only when a retry
        needs it: most replays never do."""
        if self._now_text is not None:
            self._now_parsed = parse_time(self._now_text)
            self._now_text = None
        return self._now_parsed

    # -- public ---------------------------------------------------------------------------

    def replay(self, actions: list[dict[str, Any]]) -> ShimResult:
        self._actions = actions
        self._process(self._history)
        return self._finish()

    def resume(
        self, new_events: list[Event], actions: list[dict[str, Any]], now: datetime
    ) -> ShimResult | None:
        """Continue this shim, which replayed the previous episode, with the next one: the
        same result as `Shim(history + new_events, ...).replay(actions)` at the cost of the
        new events only. Returns None when that equivalence is not guaranteed (the caller
        then replays in full): the new action list must extend the previous one unchanged
        (a timer cancelled since, say, changes it), and the top-level sequence must be
        waiting on a task (otherwise a full replay would have invoked the next actions
        earlier, at an earlier episode time)."""
        previous = self._actions
        if (
            not self._top_waiting
            or len(actions) < len(previous)
            or actions[: len(previous)] != previous
        ):
            return None
        # Last episode's new decisions are in history now: recorded, and claimed by the
        # calls that made them.
        for ev in self.result.new_decisions:
            self._recorded[ev["EventId"]] = ev
            self._claimed.add(ev["EventId"])
        self.result = ShimResult()
        self._episode_now = now
        self._actions = actions
        self._process(new_events)
        return self._finish()

    def _process(self, events: list[Event]) -> None:
        completions = _COMPLETIONS
        pending = self._pending
        for ev in events:
            kind = ev["EventType"]
            if kind == _ORCHESTRATOR_STARTED:
                self._now_text = ev["Timestamp"]
            elif kind in completions:
                key, ok = completions[kind]
                future = pending.pop(ev[key], None)
                if future is not None:
                    future.resolve(ok, ev)
            elif kind == _EXECUTION_STARTED:
                if not self._started:
                    self._started = True
                    self._run_top(0)
            elif kind == _EVENT_RAISED:
                self._deliver(ev)

    def _finish(self) -> ShimResult:
        unclaimed = sorted(set(self._recorded) - self._claimed)
        if unclaimed and not self.result.continue_as_new:
            ev = self._recorded[unclaimed[0]]
            raise NonDeterminismError(
                "Non-Deterministic workflow detected: A previous execution of this "
                f"orchestration scheduled {_describe(ev)} with sequence ID {unclaimed[0]}, "
                "but the current replay execution hasn't (yet?) scheduled this task. Was a "
                "change made to the orchestrator code after this instance had already "
                "started running?"
            )
        for name_events in self._buffered.values():
            self.result.unconsumed_events.extend(name_events)
        return self.result

    # -- top-level sequencing (V2/V3: await each entry before invoking the next) ----------

    def _run_top(self, index: int) -> None:
        actions = self._actions
        while index < len(actions):
            future = self._invoke(actions[index])
            index += 1
            if not future.done:
                self._top_waiting = True
                future.then(self._continue_top(index))
                return
        self._top_waiting = False

    def _continue_top(self, index: int) -> Callable[[_Future], None]:
        def resume(_f: _Future) -> None:
            self._top_waiting = False
            self._run_top(index)

        return resume

    def _invoke(self, action: dict[str, Any]) -> _Future:
        kind = action.get("actionType")
        if kind == CALL_ACTIVITY:
            return self._activity(action)
        if kind == CALL_ACTIVITY_WITH_RETRY:
            return self._with_retry(lambda: self._activity(action), action)
        if kind == CALL_SUB_ORCHESTRATOR:
            return self._sub_orchestration(action)
        if kind == CALL_SUB_ORCHESTRATOR_WITH_RETRY:
            return self._with_retry(lambda: self._sub_orchestration(action), action)
        if kind == CREATE_TIMER:
            return self._timer(parse_time(action["fireAt"]), bool(action.get("isCanceled")))
        if kind == WAIT_FOR_EXTERNAL_EVENT:
            return self._wait_event(str(action["externalEventName"]))
        if kind == CALL_ENTITY:
            return self._entity(action, signal=False)
        if kind == SIGNAL_ENTITY:
            return self._entity(action, signal=True)
        if kind == CALL_HTTP:
            return self._http(action)
        if kind == CONTINUE_AS_NEW:
            self.result.continue_as_new = True
            self.result.continue_as_new_input = action.get("input")
            return _done()
        if kind in (WHEN_ALL, WHEN_ANY):
            children = [self._invoke(child) for child in action.get("compoundActions") or []]
            return _when_all(children) if kind == WHEN_ALL else _when_any(children)
        raise NonDeterminismError(f"unsupported orchestrator action {action!r}")

    # -- decisions --------------------------------------------------------------------------

    def _decide(self, kind: EventType, name: str | None, fields: dict[str, Any]) -> int:
        event_id = self._counter
        self._counter += 1
        recorded = self._recorded.get(event_id)
        if recorded is None:
            self.result.new_decisions.append(event(kind, self._episode_now, event_id, **fields))
            return event_id
        if recorded["EventType"] != kind or (
            name is not None and str(recorded.get("Name", "")).lower() != name.lower()
        ):
            raise NonDeterminismError(
                "Non-Deterministic workflow detected: A previous execution of this "
                f"orchestration scheduled {_describe(recorded)} with sequence ID {event_id}, "
                f"but the current replay execution scheduled {_describe_new(kind, name)} "
                "with that ID. Was a change made to the orchestrator code after this "
                "instance had already started running?"
            )
        self._claimed.add(event_id)
        return event_id

    def _awaiting(self, event_id: int) -> _Future:
        future = _Future()
        self._pending[event_id] = future
        return future

    def _activity(self, action: dict[str, Any]) -> _Future:
        name = str(action["functionName"])
        event_id = self._decide(
            EventType.TaskScheduled,
            name,
            {"Name": name, "Version": "", "Input": action.get("input")},
        )
        return self._awaiting(event_id)

    def _http(self, action: dict[str, Any]) -> _Future:
        request = json.dumps(action.get("httpRequest"))
        event_id = self._decide(
            EventType.TaskScheduled,
            HTTP_ACTIVITY,
            {"Name": HTTP_ACTIVITY, "Version": "", "Input": request},
        )
        return self._awaiting(event_id)

    def _sub_orchestration(self, action: dict[str, Any]) -> _Future:
        name = str(action["functionName"])
        event_id = self._counter
        instance_id = action.get("instanceId") or f"{self._execution_id}:{event_id}"
        self._decide(
            EventType.SubOrchestrationInstanceCreated,
            name,
            {
                "Name": name,
                "Version": action.get("version"),
                "InstanceId": instance_id,
                "Input": action.get("input"),
            },
        )
        return self._awaiting(event_id)

    def _timer(self, fire_at: datetime, canceled: bool = False) -> _Future:
        event_id = self._decide(EventType.TimerCreated, None, {"FireAt": fmt_time(fire_at)})
        if canceled:
            self.result.canceled_timers.add(event_id)
            self._pending.pop(event_id, None)
            return _done()
        return self._awaiting(event_id)

    def _wait_event(self, name: str) -> _Future:
        future = _Future()
        buffered = self._buffered.get(name)
        if buffered:
            future.resolve(True, buffered.popleft())
        else:
            self._waiters.setdefault(name, deque()).append(future)
        return future

    def _deliver(self, ev: Event) -> None:
        name = str(ev.get("Name"))
        waiters = self._waiters.get(name)
        if waiters:
            waiters.popleft().resolve(True, ev)
        else:
            self._buffered.setdefault(name, deque()).append(ev)

    def _entity(self, action: dict[str, Any], *, signal: bool) -> _Future:
        target = str(action["instanceId"])
        operation = str(action.get("operation"))
        event_id = self._counter
        recorded = self._recorded.get(event_id)
        if recorded is not None and recorded["EventType"] == EventType.EventSent:
            request_id = str(json.loads(recorded["Input"])["id"])
        else:
            request_id = self._new_guid()
        payload = {
            "id": request_id,
            "op": operation,
            "signal": signal,
            "input": action.get("input"),
        }
        self._decide(
            EventType.EventSent,
            operation,
            {"InstanceId": target, "Name": operation, "Input": json.dumps(payload)},
        )
        if signal:
            return _done()
        return self._wait_event(request_id)

    # -- retries (DTFx RetryInterceptor) ----------------------------------------------------

    def _with_retry(self, attempt: Callable[[], _Future], action: dict[str, Any]) -> _Future:
        options = action.get("retryOptions") or {}
        first = timedelta(milliseconds=float(options.get("firstRetryIntervalInMilliseconds", 0)))
        max_attempts = int(options.get("maxNumberOfAttempts", 1))
        coefficient = float(options.get("backoffCoefficient", 1.0))
        max_interval_ms = options.get("maxRetryIntervalInMilliseconds")
        timeout_ms = options.get("retryTimeoutInMilliseconds")
        first_attempt_at = self._now
        outer = _Future()
        count = 0

        def on_attempt(future: _Future) -> None:
            nonlocal count
            if future.ok:
                outer.resolve(True, future.value)
                return
            delay = first * (coefficient**count)
            if max_interval_ms is not None:
                delay = min(delay, timedelta(milliseconds=float(max_interval_ms)))
            timed_out = timeout_ms is not None and self._now >= first_attempt_at + timedelta(
                milliseconds=float(timeout_ms)
            )
            count += 1
            if count < max_attempts and (timed_out or delay <= timedelta(0)):
                raise RetryPolicyError(
                    f"the retry policy of '{action.get('functionName')}' stops after {count} "
                    f"of {max_attempts} attempts (retryTimeoutInMilliseconds or "
                    "maxRetryIntervalInMilliseconds), but the Python SDK retries until "
                    f"maxNumberOfAttempts and would wait forever. Last failure: {future.value['Reason']}"
                )
            if count >= max_attempts:
                # The "extra" timer the SDK waits for after the last attempt, then the failure.
                self._timer(self._now).then(lambda _t: outer.resolve(False, future.value))
            else:
                self._timer(self._now + delay).then(lambda _t: attempt().then(on_attempt))

        attempt().then(on_attempt)
        return outer


def _done() -> _Future:
    future = _Future()
    future.resolve(True)
    return future


def _when_all(children: list[_Future]) -> _Future:
    outer = _Future()
    remaining = len(children)
    if remaining == 0:
        outer.resolve(True)
        return outer

    def child_done(_f: _Future) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            outer.resolve(True)

    for child in children:
        child.then(child_done)
    return outer


def _when_any(children: list[_Future]) -> _Future:
    outer = _Future()
    if not children:
        outer.resolve(True)
    for child in children:
        child.then(lambda f: outer.resolve(True, f))
    return outer


def _describe(ev: Event) -> str:
    return _describe_new(EventType(ev["EventType"]), ev.get("Name"))


def _describe_new(kind: EventType, name: str | None) -> str:
    labels = {
        EventType.TaskScheduled: "an activity task",
        EventType.TimerCreated: "a durable timer",
        EventType.SubOrchestrationInstanceCreated: "a sub-orchestration",
        EventType.EventSent: "an entity operation",
    }
    label = labels.get(kind, kind.name)
    return f"{label} named '{name}'" if name else label
