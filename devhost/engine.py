"""The Durable engine: runs a loaded app's orchestrators, activities and entities on SQLite.

Model (the Durable extension's, on one machine):

- Every instance has a history of episodes. An episode delivers all of the instance's
  visible messages at once (activity results, fired timers, external events, sub-orchestration
  results, entity responses) to the orchestrator through the SDK's own replay protocol
  (context JSON in, OrchestratorState out), then `devhost.shim` turns the reply into new
  decisions with DTFx's numbering. The history append, the messages the episode sends and the
  status change commit in one SQLite transaction, grouped with the other work of the same
  loop step (group commit). Activities are dispatched only after that commit.
- One worker thread (`devhost-engine`) runs the loop: collect activity results, release due
  timers, run episodes (one at a time, so per instance they are serial) and entity batches,
  commit, dispatch. Activities run on a thread pool capped by host.json
  `extensions.durableTask.maxConcurrentActivityFunctions` (async activities on one shared
  event loop). While an instance still has activities running and results keep arriving, its
  episode waits a few milliseconds (bounded) so a fan-in is replayed once, not per result.
- After a crash every instance resumes from its last committed episode: uncommitted work is
  recomputed deterministically, and an activity whose result was not committed runs again
  (at least once, as in Azure).
- Time comes from a `devhost.clock` clock. With a `VirtualClock` the loop jumps the clock to
  the next due timer (or another component's registered wake-up) whenever nothing is runnable.

Thread safety: every public method of `DurableEngine` is thread-safe. They take the engine
lock, apply the change in memory, commit it to SQLite and return (the change is durable when
the call returns); the worker picks the work up at once. None of them waits for an
orchestrator to run except `wait_for_completion`, which blocks the calling thread. From an
asyncio server call them through `await asyncio.to_thread(engine.method, ...)` (they can block
for the length of one episode while the worker holds the lock).

Payloads are JSON values as the extension holds them (JTokens): `start_new(input=...)` is the
value placed in the context's `"input"` (the Python client sends the *string* `df_dumps(x)`,
the webhook the parsed body), `raise_event(data=...)` the value whose JSON text becomes the
`EventRaised.Input`. Status `input`/`output`/`customStatus` come back as JSON values.

Deliberate choices, each documented where it is made:
- Contexts carry Azure Storage's timer limits, so the SDK splits timers longer than 6 days
  into 3-day hops. By default they are compact (`devhost.history.context_events`) and the
  SDK's timestamp parsing is memoized (`devhost.speedups`); `compact_context=False,
  fast_replay=False` sends exactly what the extension sends. The test suite runs both ways.
- While an engine runs, the objects loaded before it started are frozen out of the cyclic
  garbage collector (`devhost.speedups.freeze_heap`): process-wide, undone at `stop()`.
- External events an execution never consumed are carried over by `continue_as_new`.
- `purge` deletes finished instances only; `terminate` does not cascade to sub-orchestrations
  (as in Durable Functions).
- Episodes run one at a time on the worker (within maxConcurrentOrchestratorFunctions).
- Not supported: `call_http` (the activity fails with a message saying so), rewind, and
  entity critical sections (the Python SDK has no lock API; operations on one entity are
  applied one at a time, in order).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost.activity_pool import ActivityPool
from devhost.activity_workers import EventLoopThread, WorkerProcesses, run_activity
from devhost.app import FunctionNotFoundError, LoadedApp
from devhost.clock import HostClock, RealClock
from devhost.errors import (
    EngineError,
    InstanceExistsError,
    InstanceGoneError,
    InstanceNotFoundError,
    InvalidRequestError,
)
from devhost.history import (
    Event,
    EventType,
    PlayedChunk,
    context_events,
    context_json,
    event,
    fmt_time,
    join_events,
    orchestrator_completed,
    orchestrator_started,
    parse_time,
)
from devhost.replay import OUT_OF_PROC_MARKER, ReplayReport, replay_history
from devhost.shim import HTTP_ACTIVITY, NonDeterminismError, RetryPolicyError, Shim
from devhost.speedups import freeze_heap, memoize_timestamp_parsing, thaw_heap
from devhost.status import (
    TERMINAL,
    OrchestrationStatus,
    RuntimeStatus,
    history_view,
    parse_json_value,
)
from devhost.store import Batch, JsonText, Store

__all__ = ["DurableEngine", "EngineSettings", "EntityState"]

log = logging.getLogger("devhost.engine")

_BAD_ID_CHARS = re.compile(r"[/\\?#\x00-\x1f\x7f]")
# Fan-in batching: wait for more results while they keep coming (quiet gap), never longer
# than the max delay after the first one.
_BATCH_QUIET = 0.01
_BATCH_MAX_DELAY = 0.25
_ENTITY_BATCH_SIZE = 50
_SQL_IN_CHUNK = 500  # ids per `IN (...)`, well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class EngineSettings:
    """The host.json `extensions.durableTask` settings the engine honours."""

    hub_name: str = "TestHubName"
    default_version: str = ""
    version_match_strategy: str = "None"  # None | Strict | CurrentOrOlder
    version_failure_strategy: str = "Reject"  # Reject | Fail
    max_concurrent_activities: int = 10
    max_concurrent_orchestrators: int = 10

    @classmethod
    def from_host_json(cls, durable_task: dict[str, Any]) -> EngineSettings:
        def text(key: str, default: str) -> str:
            value = durable_task.get(key)
            return str(value) if isinstance(value, str | int | float) and value != "" else default

        def positive(key: str, default: int) -> int:
            value = durable_task.get(key, default)
            if not isinstance(value, int) or value < 1:
                raise InvalidRequestError(
                    f"host.json extensions.durableTask.{key} must be a positive integer, "
                    f"not {value!r}"
                )
            return value

        match = text("versionMatchStrategy", "None")
        failure = text("versionFailureStrategy", "Reject")
        if match.lower() not in ("none", "strict", "currentorolder"):
            raise InvalidRequestError(
                "host.json extensions.durableTask.versionMatchStrategy must be None, Strict "
                f"or CurrentOrOlder, not {match!r}"
            )
        if failure.lower() not in ("reject", "fail"):
            raise InvalidRequestError(
                "host.json extensions.durableTask.versionFailureStrategy must be Reject or "
                f"Fail, not {failure!r}"
            )
        hub = text("hubName", "TestHubName")
        if hub.startswith("%"):  # an app-setting reference we do not resolve locally
            hub = "TestHubName"
        return cls(
            hub_name=hub,
            default_version=text("defaultVersion", ""),
            version_match_strategy=match,
            version_failure_strategy=failure,
            max_concurrent_activities=positive("maxConcurrentActivityFunctions", 10),
            max_concurrent_orchestrators=positive("maxConcurrentOrchestratorFunctions", 10),
        )


@dataclass(frozen=True)
class EntityState:
    """`read_entity_state`: whether the entity exists and its state as a JSON value."""

    exists: bool
    state: Any


# -- in-memory working state -------------------------------------------------------------


@dataclass
class _Message:
    seq: int
    instance_id: str
    execution_id: str | None
    kind: str  # "start" | "event"
    body: Event
    due: datetime | None
    arrived: float = field(default_factory=time.monotonic)
    canceled: bool = False


@dataclass
class _Instance:
    instance_id: str
    name: str
    version: str
    execution_id: str
    status: RuntimeStatus
    input_json: str
    output_json: str | None
    custom_status_json: str | None
    created: datetime
    updated: datetime
    parent: dict[str, Any] | None
    history: list[Event] = field(default_factory=list)
    context_text: str = ""
    """The history as sent in the orchestrator context (see `_context_events`)."""
    history_seq: int = 0
    last_time: datetime | None = None
    messages: list[_Message] = field(default_factory=list)
    timers: dict[int, _Message] = field(default_factory=dict)
    inflight: int = 0
    rejected: bool = False
    replayer: Shim | None = None
    """The shim that replayed the last episode, resumed by the next one (memory only: after
    a restart the first episode replays the stored history in full)."""


@dataclass
class _Work:
    seq: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass
class _Entity:
    entity_id: str
    name: str
    key: str
    state: str | None = None
    exists: bool = False
    ops: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)


def _entity_id(name: str, key: str) -> str:
    return f"@{name.lower()}@{key}"


def _split_entity_id(entity_id: str) -> tuple[str, str]:
    if not entity_id.startswith("@") or entity_id.count("@") < 2:
        raise InvalidRequestError(f"{entity_id!r} is not an entity id (@name@key)")
    name, _, key = entity_id[1:].partition("@")
    return name, key


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{what} is not JSON serializable: {exc}") from exc


class DurableEngine:
    """See the module docstring. Construct, `start()`, use, `stop()`."""

    def __init__(
        self,
        app: LoadedApp,
        db_path: str | Path,
        *,
        clock: HostClock | None = None,
        settings: EngineSettings | None = None,
        synchronous: str = "NORMAL",
        compact_context: bool = True,
        fast_replay: bool = True,
        worker_processes: int = 0,
    ) -> None:
        if fast_replay:
            memoize_timestamp_parsing()
        self.app = app
        self.compact_context = compact_context
        # 0: activities on the engine's own threads; n: in n worker processes
        # (devhost.activity_workers, FUNCTIONS_WORKER_PROCESS_COUNT).
        self.worker_processes = worker_processes
        self.clock = clock or RealClock()
        self.settings = settings or EngineSettings.from_host_json(app.durable_settings)
        self._store = Store(db_path, synchronous=synchronous)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._completions: queue.SimpleQueue[tuple[_Work, bool, str, str]] = queue.SimpleQueue()
        self._instances: dict[str, _Instance] = {}
        self._ready: dict[str, None] = {}  # insertion-ordered set of instance ids
        self._timers: list[tuple[datetime, int, _Message]] = []
        self._work: dict[int, _Work] = {}
        self._entities: dict[str, _Entity] = {}
        self._ready_entities: dict[str, None] = {}
        self._to_dispatch: list[_Work] = []
        self._seq = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._pool: ActivityPool[_Work] | WorkerProcesses | None = None
        self._loop = EventLoopThread("devhost-activity-loop")
        self._stopping = False
        self._failure: Exception | None = None
        self._load()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread and the activity pool; re-dispatch unfinished activities."""
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            if self.worker_processes:
                self._pool = WorkerProcesses(
                    self.app,
                    self.worker_processes,
                    -(-self.settings.max_concurrent_activities // self.worker_processes),
                    self._complete,
                    seq_of=lambda work: work.seq,
                    call_of=lambda work: (work.name, work.input),
                )
            else:
                self._pool = ActivityPool(
                    self.settings.max_concurrent_activities,
                    self._run_activity,
                    name="devhost-activity",
                )
            self._to_dispatch.extend(sorted(self._work.values(), key=lambda w: w.seq))
            self._thread = threading.Thread(target=self._run, name="devhost-engine", daemon=True)
            freeze_heap()  # thawed by `stop()`, which joins this thread
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Stop the worker; running activities finish, their results are kept if committed."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping = True
        self._wake.set()
        if thread is not None:
            thread.join()
            thaw_heap()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._loop.stop()
        with self._lock:
            if self._failure is None:
                batch = Batch()
                self._drain_completions(batch)
                self._commit(batch)

    def close(self) -> None:
        self.stop()
        self._store.close()

    def __enter__(self) -> DurableEngine:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- client API ------------------------------------------------------------------------

    def start_new(
        self,
        name: str,
        instance_id: str | None = None,
        input: Any = None,
        version: str | None = None,
    ) -> str:
        """Schedule a new instance; returns its id. Raises `FunctionNotFoundError`,
        `InvalidRequestError` (bad id / input), `InstanceExistsError` (still active)."""
        entry = self.app.orchestrators[name]
        input_json = _dumps(input, "the orchestration input")
        if instance_id is None:
            instance_id = uuid.uuid4().hex
        self._validate_instance_id(instance_id)
        with self._lock:
            self._check_alive()
            batch = Batch()
            self._create_instance(
                batch,
                instance_id=instance_id,
                name=entry.name,
                input_json=input_json,
                version=self.settings.default_version if version is None else version,
                parent=None,
            )
            self._commit(batch)
        self._wake.set()
        return instance_id

    def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> OrchestrationStatus | None:
        """The status payload, or None when there is no such instance."""
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None:
                return None
            return self._status(inst, show_history, show_history_output, show_input)

    def list_instances(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Iterable[RuntimeStatus | str] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int | None = None,
        continuation_token: str | None = None,
        show_input: bool = True,
    ) -> tuple[list[OrchestrationStatus], str | None]:
        """Instances matching the filters, oldest first; returns (page, next token or None)."""
        wanted = {RuntimeStatus(s) for s in statuses} if statuses else None
        start = 0
        if continuation_token:
            try:
                start = int(continuation_token)
            except ValueError:
                raise InvalidRequestError(
                    f"continuation token {continuation_token!r} is not one this host issued"
                ) from None
        with self._lock:
            matches = [
                inst
                for inst in sorted(
                    self._instances.values(), key=lambda i: (i.created, i.instance_id)
                )
                if (created_from is None or inst.created >= created_from)
                and (created_to is None or inst.created <= created_to)
                and (wanted is None or inst.status in wanted)
                and (instance_id_prefix is None or inst.instance_id.startswith(instance_id_prefix))
            ]
            end = len(matches) if page_size is None else start + page_size
            page = [self._status(i, False, False, show_input) for i in matches[start:end]]
        return page, (str(end) if end < len(matches) else None)

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """Deliver an external event. Raises `InstanceNotFoundError` / `InstanceGoneError`."""
        data_json = _dumps(data, "the event data")
        with self._lock:
            inst = self._require(instance_id)
            if inst.status in TERMINAL:
                raise InstanceGoneError(
                    f"instance {instance_id!r} is {inst.status.value}; it takes no events"
                )
            batch = Batch()
            now = self.clock.now()
            ev = event(EventType.EventRaised, now, Name=event_name, Input=data_json)
            self._send(batch, instance_id, None, ev)
            self._commit(batch)
        self._wake.set()

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        with self._lock:
            inst = self._require(instance_id)
            if inst.status in TERMINAL:
                raise InstanceGoneError(f"instance {instance_id!r} is already {inst.status.value}")
            batch = Batch()
            now = self.clock.now()
            self._append_chunk(
                batch, inst, [event(EventType.ExecutionTerminated, now, Input=reason)]
            )
            self._finish(batch, inst, RuntimeStatus.Terminated, json.dumps(reason), now)
            self._commit(batch)
        self._wake.set()

    def suspend(self, instance_id: str, reason: str | None = None) -> None:
        with self._lock:
            inst = self._require(instance_id)
            if inst.status in TERMINAL:
                raise InstanceGoneError(f"instance {instance_id!r} is {inst.status.value}")
            if inst.status is RuntimeStatus.Suspended:
                return
            batch = Batch()
            now = self.clock.now()
            # Suspended at once; the event enters the history with the next episode, as
            # DTFx records it, and nothing else runs until `resume`.
            self._set_status(batch, inst, RuntimeStatus.Suspended, now)
            self._ready.pop(instance_id, None)
            self._send(
                batch, instance_id, None, event(EventType.ExecutionSuspended, now, Reason=reason)
            )
            self._commit(batch)

    def resume(self, instance_id: str, reason: str | None = None) -> None:
        with self._lock:
            inst = self._require(instance_id)
            if inst.status in TERMINAL:
                raise InstanceGoneError(f"instance {instance_id!r} is {inst.status.value}")
            if inst.status is not RuntimeStatus.Suspended:
                return
            batch = Batch()
            now = self.clock.now()
            self._set_status(
                batch, inst, RuntimeStatus.Running if inst.history else RuntimeStatus.Pending, now
            )
            self._send(
                batch, instance_id, None, event(EventType.ExecutionResumed, now, Reason=reason)
            )
            self._commit(batch)
        self._wake.set()

    def restart(self, instance_id: str, *, new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with its original input and version,
        under a new id (default) or, once it has finished, under the same id."""
        with self._lock:
            inst = self._require(instance_id)
            name, version = inst.name, inst.version
            # As the extension: the status input, i.e. the current execution's.
            original = json.loads(inst.input_json)
        return self.start_new(
            name,
            instance_id=None if new_instance_id else instance_id,
            input=original,
            version=version,
        )

    def purge(self, instance_id: str) -> int:
        """Delete a finished instance and its history; returns 1, or 0 if there was none to
        delete (unknown, or still active: only terminal instances are purged)."""
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is None or inst.status not in TERMINAL:
                return 0
            batch = Batch()
            self._delete_instance(batch, inst)
            self._commit(batch)
            return 1

    def purge_many(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Iterable[RuntimeStatus | str] | None = None,
    ) -> int:
        """Purge every terminal instance matching the filters; returns how many."""
        wanted = {RuntimeStatus(s) for s in statuses} if statuses else TERMINAL
        with self._lock:
            victims = [
                inst
                for inst in self._instances.values()
                if inst.status in TERMINAL
                and inst.status in wanted
                and (created_from is None or inst.created >= created_from)
                and (created_to is None or inst.created <= created_to)
            ]
            batch = Batch()
            for inst in victims:
                self._delete_instance(batch, inst)
            self._commit(batch)
            return len(victims)

    def wait_for_completion(
        self, instance_id: str, timeout: float | None = None
    ) -> OrchestrationStatus:
        """Block until the instance is terminal (or `timeout` seconds of wall time pass);
        returns its status either way. Raises `InstanceNotFoundError`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                inst = self._require(instance_id)
                if inst.status in TERMINAL:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._status(inst, False, False, True)

    def signal_entity(self, name: str, key: str, operation: str, input: Any = None) -> None:
        """A client signal (fire and forget) to entity `name`/`key`."""
        entry = self.app.entities[name]
        input_json = _dumps(input, "the operation input")
        with self._lock:
            batch = Batch()
            self._send_entity_op(
                batch,
                _entity_id(entry.name, key),
                {"op": operation, "input": input_json, "signal": True, "id": str(uuid.uuid4())},
            )
            self._commit(batch)
        self._wake.set()

    def read_entity_state(self, name: str, key: str) -> EntityState:
        entity_id = _entity_id(name, key)
        with self._lock:
            entity = self._entities.get(entity_id)
            if entity is None or not entity.exists:
                return EntityState(False, None)
            return EntityState(True, parse_json_value(entity.state))

    def history(self, instance_id: str) -> list[Event]:
        """The raw stored history of the current execution (DTFx events, for tests/tools)."""
        with self._lock:
            return [dict(e) for e in self._require(instance_id).history]

    def replay_check(self, instance_id: str) -> ReplayReport:
        """Replay the instance's stored history through the SDK and check every episode
        yields the recorded decisions (see `devhost.replay`)."""
        with self._lock:
            inst = self._require(instance_id)
            snapshot = (inst.name, inst.input_json, [dict(e) for e in inst.history], inst.parent)
        name, input_json, history, parent = snapshot
        return replay_history(
            self.app,
            name=name,
            instance_id=instance_id,
            input_json=input_json,
            history=history,
            parent_instance_id=parent["instance_id"] if parent else None,
        )

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        store = self._store
        self._seq = itertools.count(
            max(store.max_seq("messages"), store.max_seq("work"), store.max_seq("entity_ops")) + 1
        )
        for row in store.query(
            "SELECT instance_id, name, version, execution_id, status, input, output, "
            "custom_status, created, updated, parent FROM instances"
        ):
            inst = _Instance(
                instance_id=row[0],
                name=row[1],
                version=row[2],
                execution_id=row[3],
                status=RuntimeStatus(row[4]),
                input_json=row[5],
                output_json=row[6],
                custom_status_json=row[7],
                created=parse_time(row[8]),
                updated=parse_time(row[9]),
                parent=json.loads(row[10]) if row[10] else None,
            )
            self._instances[inst.instance_id] = inst
        for instance_id, seq, execution_id, events in store.query(
            "SELECT instance_id, seq, execution_id, events FROM history ORDER BY instance_id, seq"
        ):
            owner = self._instances.get(instance_id)
            if owner is None or execution_id != owner.execution_id:
                continue
            chunk = json.loads("[" + events + "]")
            owner.history.extend(chunk)
            owner.context_text = join_events(owner.context_text, self._context_events(chunk, True))
            owner.history_seq = seq + 1
        for inst in self._instances.values():
            for ev in reversed(inst.history):
                if ev["EventType"] == EventType.OrchestratorStarted:
                    inst.last_time = parse_time(ev["Timestamp"])
                    break
        for seq, instance_id, execution_id, kind, body, due in store.query(
            "SELECT seq, instance_id, execution_id, kind, body, due FROM messages ORDER BY seq"
        ):
            msg = _Message(
                seq,
                instance_id,
                execution_id,
                kind,
                json.loads(body),
                parse_time(due) if due else None,
            )
            self._enqueue(msg)
        for seq, instance_id, execution_id, task_id, name, input_text in store.query(
            "SELECT seq, instance_id, execution_id, task_id, name, input FROM work ORDER BY seq"
        ):
            work = _Work(seq, instance_id, execution_id, task_id, name, input_text)
            self._work[seq] = work
            worker_of = self._instances.get(instance_id)
            if worker_of is not None:
                worker_of.inflight += 1
        for entity_id, state, exists in store.query(
            "SELECT entity_id, state, exists_ FROM entities"
        ):
            name, key = _split_entity_id(entity_id)
            self._entities[entity_id] = _Entity(entity_id, name, key, state, bool(exists))
        for seq, entity_id, body in store.query(
            "SELECT seq, entity_id, body FROM entity_ops ORDER BY seq"
        ):
            self._entity(entity_id).ops.append((seq, json.loads(body)))
            self._ready_entities[entity_id] = None

    # -- the worker loop -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                if not self._step():
                    self._idle_wait()
        except Exception as exc:
            # Memory may no longer match the database: stop serving; a restart reloads.
            log.exception("devhost engine worker crashed")
            with self._lock:
                self._failure = exc
                self._changed.notify_all()

    def _check_alive(self) -> None:
        if self._failure is not None:
            raise EngineError(
                f"the engine's worker crashed ({self._failure!r}); restart the host"
            ) from self._failure

    def _step(self) -> bool:
        with self._lock:
            batch = Batch()
            progressed = self._drain_completions(batch)
            self._release_due_timers()
            wall = time.monotonic()
            for instance_id in list(self._ready):
                inst = self._instances.get(instance_id)
                if inst is None or not inst.messages:
                    self._ready.pop(instance_id, None)
                    continue
                if self._defer(inst, wall):
                    continue
                self._ready.pop(instance_id, None)
                self._episode(batch, inst)
                progressed = True
            for entity_id in list(self._ready_entities):
                self._ready_entities.pop(entity_id, None)
                self._entity_batch(batch, self._entities[entity_id])
                progressed = True
            self._commit(batch)
            dispatch, self._to_dispatch = self._to_dispatch, []
        for work in dispatch:
            self._dispatch(work)
        return progressed

    def _defer(self, inst: _Instance, wall: float) -> bool:
        if inst.inflight <= 0 or inst.status is not RuntimeStatus.Running:
            return False
        first = min(m.arrived for m in inst.messages)
        last = max(m.arrived for m in inst.messages)
        return wall - first < _BATCH_MAX_DELAY and wall - last < _BATCH_QUIET

    def _idle_wait(self) -> None:
        with self._lock:
            if not self._completions.empty():
                return
            next_due = self._next_timer()
            deferred = bool(self._ready)
            busy = bool(self._work) and any(
                self._instances.get(w.instance_id) is not None for w in self._work.values()
            )
        if deferred:
            self._wake.wait(_BATCH_QUIET / 2)
        elif self.clock.virtual and not busy and self.clock.idle(next_due):
            return
        else:
            timeout = 0.05 if self.clock.virtual else None
            if next_due is not None and not self.clock.virtual:
                timeout = max(0.0, (next_due - self.clock.now()).total_seconds())
            self._wake.wait(timeout)
        self._wake.clear()

    def _next_timer(self) -> datetime | None:
        while self._timers and self._timers[0][2].canceled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _release_due_timers(self) -> None:
        now = self.clock.now()
        while self._timers and (self._timers[0][0] <= now or self._timers[0][2].canceled):
            _, _, msg = heapq.heappop(self._timers)
            if msg.canceled:
                continue
            inst = self._instances.get(msg.instance_id)
            if inst is None:
                continue
            inst.timers.pop(msg.body.get("TimerId", -1), None)
            msg.arrived = time.monotonic()
            inst.messages.append(msg)
            if inst.status is not RuntimeStatus.Suspended and not inst.rejected:
                self._ready[inst.instance_id] = None

    def _commit(self, batch: Batch) -> None:
        if batch:
            self._store.commit(batch)

    # -- messages --------------------------------------------------------------------------

    def _send(
        self,
        batch: Batch,
        instance_id: str,
        execution_id: str | None,
        ev: Event,
        *,
        kind: str = "event",
        due: datetime | None = None,
    ) -> None:
        inst = self._instances.get(instance_id)
        if inst is None or (inst.status in TERMINAL and kind != "start"):
            return  # the extension drops messages to finished or unknown instances
        msg = _Message(next(self._seq), instance_id, execution_id, kind, ev, due)
        batch.add_keyed(
            ("message", msg.seq),
            "INSERT INTO messages (seq, instance_id, execution_id, kind, body, due) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            msg.seq,
            instance_id,
            execution_id,
            kind,
            JsonText(ev),
            fmt_time(due) if due else None,
        )
        self._enqueue(msg)

    def _enqueue(self, msg: _Message) -> None:
        inst = self._instances.get(msg.instance_id)
        if inst is None:
            return
        if msg.due is not None and msg.due > self.clock.now():
            heapq.heappush(self._timers, (msg.due, msg.seq, msg))
            inst.timers[msg.body.get("TimerId", -1)] = msg
            return
        inst.messages.append(msg)
        active = inst.status not in TERMINAL and inst.status is not RuntimeStatus.Suspended
        if active and not inst.rejected:
            self._ready[inst.instance_id] = None

    # -- instances -------------------------------------------------------------------------

    def _validate_instance_id(self, instance_id: str) -> None:
        if not instance_id or len(instance_id) > 256:
            raise InvalidRequestError("instance id must be 1 to 256 characters long")
        if instance_id.startswith("@"):
            raise InvalidRequestError(
                f"instance id {instance_id!r} must not start with '@' (reserved for entities)"
            )
        if _BAD_ID_CHARS.search(instance_id):
            raise InvalidRequestError(
                f"instance id {instance_id!r} must not contain '/', '\\', '?', '#' or "
                "control characters"
            )

    def _require(self, instance_id: str) -> _Instance:
        self._check_alive()
        inst = self._instances.get(instance_id)
        if inst is None:
            raise InstanceNotFoundError(f"no orchestration instance with id {instance_id!r}")
        return inst

    def _create_instance(
        self,
        batch: Batch,
        *,
        instance_id: str,
        name: str,
        input_json: str,
        version: str,
        parent: dict[str, Any] | None,
    ) -> None:
        existing = self._instances.get(instance_id)
        if existing is not None:
            if existing.status not in TERMINAL:
                raise InstanceExistsError(
                    f"An orchestration with instance ID '{instance_id}' already exists and is "
                    f"{existing.status.value}; only finished instances can be replaced"
                )
            self._delete_instance(batch, existing)
        now = self.clock.now()
        execution_id = uuid.uuid4().hex
        inst = _Instance(
            instance_id=instance_id,
            name=name,
            version=version,
            execution_id=execution_id,
            status=RuntimeStatus.Pending,
            input_json=input_json,
            output_json=None,
            custom_status_json=None,
            created=now,
            updated=now,
            parent=parent,
        )
        self._instances[instance_id] = inst
        batch.add(
            "INSERT INTO instances (instance_id, name, version, execution_id, status, input, "
            "output, custom_status, created, updated, parent) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            instance_id,
            name,
            version,
            execution_id,
            inst.status.value,
            input_json,
            None,
            None,
            fmt_time(now),
            fmt_time(now),
            json.dumps(parent) if parent else None,
        )
        self._send(
            batch, instance_id, execution_id, self._execution_started(inst, now), kind="start"
        )

    def _execution_started(self, inst: _Instance, now: datetime) -> Event:
        parent = None
        if inst.parent is not None:
            parent = {
                "Name": inst.parent["name"],
                "OrchestrationInstance": {
                    "InstanceId": inst.parent["instance_id"],
                    "ExecutionId": inst.parent["execution_id"],
                },
                "TaskScheduleId": inst.parent["task_id"],
            }
        return event(
            EventType.ExecutionStarted,
            now,
            OrchestrationInstance={
                "InstanceId": inst.instance_id,
                "ExecutionId": inst.execution_id,
            },
            ParentInstance=parent,
            Name=inst.name,
            Version=inst.version,
            Input=json.loads(inst.input_json),
        )

    def _delete_instance(self, batch: Batch, inst: _Instance) -> None:
        iid = inst.instance_id
        for sql in (
            "DELETE FROM instances WHERE instance_id = ?",
            "DELETE FROM history WHERE instance_id = ?",
            "DELETE FROM messages WHERE instance_id = ?",
        ):
            batch.add(sql, iid)
        for msg in inst.timers.values():
            msg.canceled = True
        self._instances.pop(iid, None)
        self._ready.pop(iid, None)

    def _set_status(
        self, batch: Batch, inst: _Instance, status: RuntimeStatus, now: datetime
    ) -> None:
        inst.status = status
        inst.updated = now
        batch.add(
            "UPDATE instances SET status = ?, output = ?, custom_status = ?, updated = ? "
            "WHERE instance_id = ?",
            status.value,
            inst.output_json,
            inst.custom_status_json,
            fmt_time(now),
            inst.instance_id,
        )
        if status in TERMINAL:
            self._changed.notify_all()

    def _append_chunk(
        self, batch: Batch, inst: _Instance, events: list[Event] | PlayedChunk
    ) -> None:
        chunk = events if isinstance(events, PlayedChunk) else PlayedChunk().extend(events)
        inst.history.extend(chunk.events)
        inst.context_text = join_events(
            inst.context_text, chunk.context(played=True, compact=self.compact_context)
        )
        batch.add(
            "INSERT INTO history (instance_id, seq, execution_id, events) VALUES (?, ?, ?, ?)",
            inst.instance_id,
            inst.history_seq,
            inst.execution_id,
            chunk.stored(),
        )
        inst.history_seq += 1

    def _context_events(self, events: list[Event], played: bool) -> str:
        return context_events(events, played=played, compact=self.compact_context)

    def _drop_messages(self, batch: Batch, messages: list[_Message]) -> None:
        # A message sent in this same transaction is simply never written.
        seqs = [m.seq for m in messages if not batch.discard(("message", m.seq))]
        for start in range(0, len(seqs), _SQL_IN_CHUNK):
            chunk = seqs[start : start + _SQL_IN_CHUNK]
            batch.add(f"DELETE FROM messages WHERE seq IN ({','.join('?' * len(chunk))})", *chunk)

    def _finish(
        self,
        batch: Batch,
        inst: _Instance,
        status: RuntimeStatus,
        output_json: str | None,
        now: datetime,
        *,
        failure_details: str | None = None,
    ) -> None:
        """Terminal state: drop pending messages and timers, tell the parent."""
        inst.output_json = output_json
        inst.context_text = ""  # never replayed again; the stored history stays
        inst.replayer = None
        inst.messages.clear()
        for msg in inst.timers.values():
            msg.canceled = True
        batch.add("DELETE FROM messages WHERE instance_id = ?", inst.instance_id)
        inst.timers.clear()
        self._ready.pop(inst.instance_id, None)
        self._set_status(batch, inst, status, now)
        parent = inst.parent
        if parent is None:
            return
        if status is RuntimeStatus.Completed:
            reply = event(
                EventType.SubOrchestrationInstanceCompleted,
                now,
                TaskScheduledId=parent["task_id"],
                Result=output_json,
            )
        else:
            reason = parse_json_value(output_json)
            reply = event(
                EventType.SubOrchestrationInstanceFailed,
                now,
                TaskScheduledId=parent["task_id"],
                Reason=reason if isinstance(reason, str) else output_json,
                Details=failure_details,
            )
        self._send(batch, parent["instance_id"], parent["execution_id"], reply)

    def _status(
        self, inst: _Instance, show_history: bool, show_history_output: bool, show_input: bool
    ) -> OrchestrationStatus:
        events = None
        if show_history:
            events = history_view(
                inst.history, show_input=show_input, show_output=show_history_output
            )
        return OrchestrationStatus(
            name=inst.name,
            instance_id=inst.instance_id,
            runtime_status=inst.status,
            input=parse_json_value(inst.input_json) if show_input else None,
            custom_status=parse_json_value(inst.custom_status_json),
            output=parse_json_value(inst.output_json),
            created_time=inst.created,
            last_updated_time=inst.updated,
            history_events=events,
        )

    # -- episodes --------------------------------------------------------------------------

    def _version_mismatch(self, inst: _Instance) -> str | None:
        strategy = self.settings.version_match_strategy.lower()
        worker = self.settings.default_version
        if strategy == "none" or not worker:
            return None
        if strategy == "strict" and inst.version != worker:
            return (
                f"The orchestration version '{inst.version}' does not match the worker "
                f"version '{worker}'."
            )
        if strategy == "currentorolder" and _compare_versions(inst.version, worker) > 0:
            return (
                f"The orchestration version '{inst.version}' is greater than the worker "
                f"version '{worker}'."
            )
        return None

    def _episode(self, batch: Batch, inst: _Instance) -> None:
        now = self.clock.now()
        if inst.last_time is not None and now < inst.last_time:
            now = inst.last_time
        mismatch = self._version_mismatch(inst)
        if mismatch is not None and self.settings.version_failure_strategy.lower() == "reject":
            # Left for a host whose version matches, as Azure abandons the work item.
            inst.rejected = True
            return
        messages = inst.messages
        inst.messages = []
        current = [
            m for m in messages if m.execution_id is None or m.execution_id == inst.execution_id
        ]
        self._drop_messages(batch, messages)
        if not current:
            return
        if mismatch is not None:
            message = f"Orchestrator function '{inst.name}' failed: {mismatch}"
            self._append_chunk(
                batch,
                inst,
                [
                    orchestrator_started(now),
                    *(m.body for m in current),
                    event(EventType.ExecutionFailed, now),
                    orchestrator_completed(now),
                ],
            )
            self._finish(batch, inst, RuntimeStatus.Failed, json.dumps(message), now)
            return
        new_events = [orchestrator_started(now)]
        new_events.extend(m.body for m in current)
        inst.last_time = now
        # Encoded once: for this context (as new events) and for the history append.
        chunk = PlayedChunk().extend(new_events)
        reply, error = self._invoke_orchestrator(
            inst, chunk.context(played=False, compact=self.compact_context)
        )
        decisions: list[Event] = []
        replayer, inst.replayer = inst.replayer, None
        if reply is not None:
            try:
                actions = (reply.get("actions") or [[]])[0]
                resumed = None if replayer is None else replayer.resume(new_events, actions, now)
                if resumed is None:
                    replayer = Shim(
                        inst.history + new_events, execution_id=inst.execution_id, now=now
                    )
                    resumed = replayer.replay(actions)
                shim = resumed
            except (NonDeterminismError, RetryPolicyError) as exc:
                error = str(exc)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                # A reply this host cannot interpret fails the instance, not the host.
                error = f"devhost could not process the orchestrator's actions: {exc!r}"
            else:
                decisions = shim.new_decisions
                if error is None:
                    try:
                        self._validate_decisions(decisions)
                    except FunctionNotFoundError as exc:
                        error = str(exc)
                if error is None and not reply.get("isDone"):
                    inst.replayer = replayer  # picks up from here next episode
        if inst.status is RuntimeStatus.Pending:
            inst.status = RuntimeStatus.Running
        if reply is not None and "customStatus" in reply:
            inst.custom_status_json = json.dumps(reply["customStatus"])
        if error is not None or reply is None:
            message = f"Orchestrator function '{inst.name}' failed: {error}"
            failed = event(
                EventType.ExecutionCompleted,
                now,
                OrchestrationStatus="Failed",
                Result=None,
                FailureDetails={"ErrorMessage": message},
            )
            self._append_chunk(batch, inst, chunk.extend([failed, orchestrator_completed(now)]))
            self._finish(batch, inst, RuntimeStatus.Failed, json.dumps(message), now)
            return
        done = bool(reply.get("isDone"))
        tail: list[Event] = []
        if done and shim.continue_as_new:
            tail.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus="ContinuedAsNew",
                    Result=shim.continue_as_new_input,
                )
            )
        elif done:
            output_json = json.dumps(reply.get("output"))
            tail.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus="Completed",
                    Result=output_json,
                )
            )
        self._append_chunk(
            batch, inst, chunk.extend([*decisions, *tail, orchestrator_completed(now)])
        )
        for timer_id in shim.canceled_timers:
            pending = inst.timers.pop(timer_id, None)
            if pending is not None:
                pending.canceled = True
                batch.add("DELETE FROM messages WHERE seq = ?", pending.seq)
        self._apply_decisions(batch, inst, decisions, now)
        if done and shim.continue_as_new:
            self._continue_as_new(
                batch, inst, shim.continue_as_new_input, shim.unconsumed_events, now
            )
        elif done:
            self._finish(batch, inst, RuntimeStatus.Completed, output_json, now)
        else:
            self._set_status(batch, inst, RuntimeStatus.Running, now)

    def _invoke_orchestrator(
        self, inst: _Instance, new_context: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Call the orchestrator with its history and `new_context`, the new events'
        context text; returns (reply, error)."""
        try:
            entry = self.app.orchestrators[inst.name]
        except FunctionNotFoundError as exc:
            return None, str(exc)
        context = context_json(
            join_events(inst.context_text, new_context),
            input_json=inst.input_json,
            instance_id=inst.instance_id,
            parent_instance_id=inst.parent["instance_id"] if inst.parent else None,
        )
        try:
            reply_text = entry.user_function(context)
        except Exception as exc:
            text = str(exc)
            if OUT_OF_PROC_MARKER in text:
                message, _, state = text.partition(OUT_OF_PROC_MARKER)
                try:
                    reply = json.loads(state)
                except ValueError:
                    return None, message
                return reply, str(reply.get("error") or message)
            return None, text or type(exc).__name__
        try:
            reply = json.loads(reply_text)
        except (TypeError, ValueError):
            return None, f"the orchestrator returned a reply that is not JSON: {reply_text!r:.200}"
        return reply, None

    def _validate_decisions(self, decisions: list[Event]) -> None:
        for ev in decisions:
            kind = ev["EventType"]
            if kind == EventType.TaskScheduled and ev["Name"] != HTTP_ACTIVITY:
                self.app.activities[ev["Name"]]
            elif kind == EventType.SubOrchestrationInstanceCreated:
                self.app.orchestrators[ev["Name"]]
            elif kind == EventType.EventSent:
                self.app.entities[_split_entity_id(ev["InstanceId"])[0]]

    def _apply_decisions(
        self, batch: Batch, inst: _Instance, decisions: list[Event], now: datetime
    ) -> None:
        for ev in decisions:
            kind = ev["EventType"]
            if kind == EventType.TaskScheduled:
                work = _Work(
                    next(self._seq),
                    inst.instance_id,
                    inst.execution_id,
                    ev["EventId"],
                    ev["Name"],
                    ev.get("Input"),
                )
                self._work[work.seq] = work
                inst.inflight += 1
                batch.add(
                    "INSERT INTO work (seq, instance_id, execution_id, task_id, name, input) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    work.seq,
                    work.instance_id,
                    work.execution_id,
                    work.task_id,
                    work.name,
                    work.input,
                )
                self._to_dispatch.append(work)
            elif kind == EventType.TimerCreated:
                fire_at = parse_time(ev["FireAt"])
                fired = event(
                    EventType.TimerFired, fire_at, TimerId=ev["EventId"], FireAt=ev["FireAt"]
                )
                self._send(batch, inst.instance_id, inst.execution_id, fired, due=fire_at)
            elif kind == EventType.SubOrchestrationInstanceCreated:
                self._start_child(batch, inst, ev, now)
            elif kind == EventType.EventSent:
                payload = json.loads(ev["Input"])
                payload["parent"] = inst.instance_id
                payload["parentExecution"] = inst.execution_id
                name, key = _split_entity_id(ev["InstanceId"])
                self._send_entity_op(batch, _entity_id(name, key), payload)

    def _start_child(self, batch: Batch, inst: _Instance, ev: Event, now: datetime) -> None:
        child_id = ev["InstanceId"]
        version = ev.get("Version")
        entry = self.app.orchestrators[ev["Name"]]
        try:
            if child_id in (inst.instance_id, (inst.parent or {}).get("instance_id")):
                raise InvalidRequestError(
                    f"a sub-orchestration cannot reuse the id {child_id!r} of its parent"
                )
            self._validate_instance_id(child_id)
            input_text = ev.get("Input")
            self._create_instance(
                batch,
                instance_id=child_id,
                name=entry.name,
                input_json=json.dumps(input_text),
                version=self.settings.default_version if version is None else str(version),
                parent={
                    "instance_id": inst.instance_id,
                    "execution_id": inst.execution_id,
                    "task_id": ev["EventId"],
                    "name": inst.name,
                },
            )
        except (InstanceExistsError, InvalidRequestError) as exc:
            failed = event(
                EventType.SubOrchestrationInstanceFailed,
                now,
                TaskScheduledId=ev["EventId"],
                Reason=str(exc),
                Details=None,
            )
            self._send(batch, inst.instance_id, inst.execution_id, failed)

    def _continue_as_new(
        self,
        batch: Batch,
        inst: _Instance,
        input_text: Any,
        carried: list[Event],
        now: datetime,
    ) -> None:
        """Reset the history for a new execution; external events the old one never
        consumed are carried over to it."""
        batch.add("DELETE FROM history WHERE instance_id = ?", inst.instance_id)
        self._drop_messages(batch, list(inst.timers.values()))
        for msg in inst.timers.values():
            msg.canceled = True
        inst.timers.clear()
        inst.execution_id = uuid.uuid4().hex
        inst.input_json = json.dumps(input_text)
        batch.add(
            "UPDATE instances SET execution_id = ?, input = ? WHERE instance_id = ?",
            inst.execution_id,
            inst.input_json,
            inst.instance_id,
        )
        inst.history = []
        inst.context_text = ""
        inst.history_seq = 0
        inst.output_json = None
        self._set_status(batch, inst, RuntimeStatus.Running, now)
        self._send(
            batch,
            inst.instance_id,
            inst.execution_id,
            self._execution_started(inst, now),
            kind="start",
        )
        for ev in carried:
            self._send(batch, inst.instance_id, None, {**ev, "IsPlayed": False})

    # -- activities ------------------------------------------------------------------------

    def _dispatch(self, work: _Work) -> None:
        pool = self._pool
        if pool is None:
            return
        pool.submit(work)

    def _run_activity(self, work: _Work) -> None:
        ok, payload, details = run_activity(self.app, work.name, work.input, self._loop)
        self._complete(work, ok, payload, details)

    def _complete(self, work: _Work, ok: bool, payload: str, details: str) -> None:
        self._completions.put((work, ok, payload, details))
        self._wake.set()

    def _drain_completions(self, batch: Batch) -> bool:
        # The results collected by one drain are recorded at one instant, the drain's: the
        # SDK parses every distinct timestamp it is sent (dateutil), so a fan-in of n
        # results costs it one parse, not n.
        now = self.clock.now()
        done: list[int] = []
        drained = False
        while True:
            try:
                work, ok, payload, details = self._completions.get_nowait()
            except queue.Empty:
                break
            drained = True
            if self._work.pop(work.seq, None) is None:
                continue
            done.append(work.seq)
            inst = self._instances.get(work.instance_id)
            if inst is None:
                continue
            inst.inflight -= 1
            if ok:
                ev = event(
                    EventType.TaskCompleted, now, TaskScheduledId=work.task_id, Result=payload
                )
            else:
                ev = event(
                    EventType.TaskFailed,
                    now,
                    TaskScheduledId=work.task_id,
                    Reason=payload,
                    Details=details,
                    FailureDetails={"ErrorType": "Exception", "ErrorMessage": payload},
                )
            self._send(batch, work.instance_id, work.execution_id, ev)
        # One statement for the finished work rows (not one per row between the inserts).
        for start in range(0, len(done), _SQL_IN_CHUNK):
            seqs = done[start : start + _SQL_IN_CHUNK]
            batch.add(f"DELETE FROM work WHERE seq IN ({','.join('?' * len(seqs))})", *seqs)
        return drained

    # -- entities --------------------------------------------------------------------------

    def _entity(self, entity_id: str) -> _Entity:
        entity = self._entities.get(entity_id)
        if entity is None:
            name, key = _split_entity_id(entity_id)
            entity = _Entity(entity_id, name, key)
            self._entities[entity_id] = entity
        return entity

    def _send_entity_op(self, batch: Batch, entity_id: str, payload: dict[str, Any]) -> None:
        seq = next(self._seq)
        batch.add(
            "INSERT INTO entity_ops (seq, entity_id, body) VALUES (?, ?, ?)",
            seq,
            entity_id,
            json.dumps(payload),
        )
        self._entity(entity_id).ops.append((seq, payload))
        self._ready_entities[entity_id] = None

    def _entity_batch(self, batch: Batch, entity: _Entity) -> None:
        ops: list[tuple[int, dict[str, Any]]] = []
        while entity.ops and len(ops) < _ENTITY_BATCH_SIZE:
            ops.append(entity.ops.popleft())
        if entity.ops:
            self._ready_entities[entity.entity_id] = None
        if not ops:
            return
        now = self.clock.now()
        batch.add(
            f"DELETE FROM entity_ops WHERE seq IN ({','.join('?' * len(ops))})",
            *(seq for seq, _ in ops),
        )
        context = json.dumps(
            {
                "self": {"name": entity.name, "key": entity.key},
                "exists": entity.exists,
                "state": entity.state,
                "batch": [
                    {
                        "name": op["op"],
                        "input": json.dumps(
                            op.get("input") if op.get("input") is not None else "null"
                        ),
                        "isSignal": bool(op.get("signal")),
                    }
                    for _, op in ops
                ],
            }
        )
        try:
            entry = self.app.entities[entity.name]
            reply = json.loads(entry.user_function(context))
            results = reply.get("results") or []
            entity.exists = bool(reply.get("entityExists"))
            entity.state = reply.get("entityState") if entity.exists else None
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            results = [{"isError": True, "result": json.dumps(message)} for _ in ops]
        batch.add(
            "INSERT OR REPLACE INTO entities (entity_id, state, exists_, updated) VALUES (?,?,?,?)",
            entity.entity_id,
            entity.state,
            int(entity.exists),
            fmt_time(now),
        )
        for (_, op), result in zip(ops, results, strict=False):
            if op.get("signal") or not op.get("parent"):
                continue
            response: dict[str, Any] = {"result": result.get("result")}
            if result.get("isError"):
                response["exceptionType"] = "Exception"
            reply_ev = event(EventType.EventRaised, now, Name=op["id"], Input=json.dumps(response))
            self._send(batch, op["parent"], op.get("parentExecution"), reply_ev)


def _compare_versions(left: str, right: str) -> int:
    """Compare like `System.Version` when both parse as dotted numbers, else ordinally;
    an empty version is older than any other."""
    if left == right:
        return 0
    if not left:
        return -1
    if not right:
        return 1
    try:
        lparts = tuple(int(p) for p in left.split("."))
        rparts = tuple(int(p) for p in right.split("."))
    except ValueError:
        return (left > right) - (left < right)
    return (lparts > rparts) - (lparts < rparts)
