"""Activity functions run in worker processes, as the Functions host runs a Python app.

In Azure the Functions host (a .NET process: the Durable extension's storage work, the HTTP
front, the queue listeners) hands each invocation to a Python worker process over gRPC, and
with the app setting `FUNCTIONS_WORKER_PROCESS_COUNT` to several of them
(https://learn.microsoft.com/en-us/azure/azure-functions/functions-app-settings#functions_worker_process_count).
devhost otherwise runs everything in its own process, so an activity's Python competes for
one interpreter lock with the host's own work (episodes, SQLite, queue polling, the HTTP
front) and with every other activity. With `worker_processes` > 0 the engine sends each
activity to one of that many processes instead: each imports the app itself and runs the
activity on its own threads (the worker's thread pool), exactly as the in-process path does
(`run_activity`: the same trigger codec, the same result and failure texts).

A worker that dies mid-activity (killed, crashed) fails the activities it was running, as a
worker crash fails the invocation in Azure (the orchestrator's retry policy decides what
happens next), and is replaced. Results travel over a pipe as (seq, ok, payload, details).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost.activity_pool import ActivityPool
from devhost.app import LoadedApp, load_app
from devhost.shim import HTTP_ACTIVITY

log = logging.getLogger("devhost.engine")

# (seq, ok, payload, details): payload is the result's JSON text, or the failure's reason.
Completion = tuple[int, bool, str, str]
_HOST_WATCH_S = 0.2


def run_activity(
    app: LoadedApp, name: str, payload: str | None, loop: Callable[[], asyncio.AbstractEventLoop]
) -> tuple[bool, str, str]:
    """Run activity `name` on its JSON input as the Python worker does: (ok, result JSON or
    the failure's reason, the failure's traceback)."""
    try:
        if name == HTTP_ACTIVITY:
            raise NotImplementedError(
                "context.call_http is not supported by devhost; call an activity that "
                "makes the request instead"
            )
        entry = app.activities[name]
        value = ActivityTriggerConverter.decode(
            func.meta.Datum(type="json", value=payload if payload is not None else "null"),
            trigger_metadata=None,
        )
        result = entry.user_function(**{entry.trigger_param: value})
        if asyncio.iscoroutine(result):
            result = asyncio.run_coroutine_threadsafe(result, loop()).result()
        text = ActivityTriggerConverter.encode(result, expected_type=None).value
        return True, str(text), ""
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        details = "".join(traceback.format_exception(exc))
        return False, f"Activity function '{name}' failed: {message}", details


class EventLoopThread:
    """One asyncio loop on a daemon thread, made on first use, for async activities."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=self._name, daemon=True).start()
                self._loop = loop
            return self._loop

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None


def _exit_with(host_pid: int) -> None:
    """End this worker as soon as the host that started it is gone (a host killed with
    SIGKILL cannot stop it): in Azure a worker does not outlive its host either. Polled, not
    `PR_SET_PDEATHSIG`, which fires when the thread that started the process ends."""
    while os.getppid() == host_pid:
        time.sleep(_HOST_WATCH_S)
    os._exit(70)


def _worker_main(
    app_dir: str, script: str | None, conn: Connection, threads: int, host_pid: int
) -> None:
    """A worker process: import the app, then run what the host sends until it closes the
    pipe (or sends None)."""
    threading.Thread(target=_exit_with, args=(host_pid,), name="devhost-host-watch",
                     daemon=True).start()  # fmt: skip
    app = load_app(app_dir, script=script)
    loop = EventLoopThread("devhost-worker-loop")
    send_lock = threading.Lock()

    def run(item: tuple[int, str, str | None]) -> None:
        seq, name, payload = item
        ok, text, details = run_activity(app, name, payload, loop)
        with send_lock:
            conn.send((seq, ok, text, details))

    pool: ActivityPool[tuple[int, str, str | None]] = ActivityPool(
        threads, run, name="devhost-worker-activity"
    )
    conn.send(("ready", os.getpid()))
    try:
        while True:
            try:
                item = conn.recv()
            except EOFError:
                break
            if item is None:
                break
            pool.submit(item)
    finally:
        pool.shutdown()
        loop.stop()


@dataclass
class _Worker:
    process: Any  # multiprocessing.context.SpawnProcess
    conn: Connection
    running: dict[int, Any] = field(default_factory=dict)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread | None = None


class WorkerProcesses:
    """`count` worker processes, each running up to `threads` activities at once; `submit`
    sends a piece of work to the least busy one, `done(work, ok, payload, details)` gets each
    result (on a reader thread)."""

    def __init__(
        self,
        app: LoadedApp,
        count: int,
        threads: int,
        done: Callable[[Any, bool, str, str], None],
        *,
        seq_of: Callable[[Any], int],
        call_of: Callable[[Any], tuple[str, str | None]],
    ) -> None:
        if count < 1:
            raise ValueError(f"worker processes: at least one, not {count}")
        self._app_dir = str(Path(app.root))
        self._script = getattr(app.module, "__file__", None)
        self._threads = max(1, threads)
        self._done = done
        self._seq_of = seq_of
        self._call_of = call_of
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._closing = False
        self._workers: list[_Worker] = []
        for _ in range(count):
            self._workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        script = Path(self._script).name if self._script else None
        process = self._context.Process(
            target=_worker_main,
            args=(self._app_dir, script, theirs, self._threads, os.getpid()),
            name="devhost-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        worker.reader = threading.Thread(
            target=self._read, args=(worker,), name="devhost-worker-reader", daemon=True
        )
        worker.reader.start()
        return worker

    def submit(self, work: Any) -> None:
        with self._lock:
            if not self._workers:
                worker = None
            else:
                worker = min(self._workers, key=lambda w: len(w.running))
                worker.running[self._seq_of(work)] = work
        if worker is None:
            self._fail(work, "no devhost worker process is running (see the host's log)")
            return
        name, payload = self._call_of(work)
        try:
            with worker.send_lock:
                worker.conn.send((self._seq_of(work), name, payload))
        except (OSError, ValueError):
            pass  # the reader sees the worker gone and fails what it held

    def _read(self, worker: _Worker) -> None:
        ready = False
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            if not ready:
                ready = True  # ("ready", pid): the app is imported
                continue
            seq, ok, payload, details = message
            with self._lock:
                work = worker.running.pop(seq, None)
            if work is not None:
                self._done(work, ok, payload, details)
        worker.process.join(timeout=5)
        with self._lock:
            lost, worker.running = list(worker.running.values()), {}
            if worker in self._workers:
                self._workers.remove(worker)
            # One that never got the app imported would fail the same way again.
            replace = ready and not self._closing
            if replace:
                log.warning(
                    "devhost worker process %s exited (exit code %s); starting another",
                    worker.process.pid,
                    worker.process.exitcode,
                )
                self._workers.append(self._spawn())
            elif not ready and not self._closing:
                log.error(
                    "devhost worker process %s exited before it had imported the app "
                    "(exit code %s); not replaced",
                    worker.process.pid,
                    worker.process.exitcode,
                )
        if self._closing:
            return  # still unfinished in the engine, which dispatches it again when it starts
        for work in lost:
            self._fail(
                work, f"the worker process running it exited (exit code {worker.process.exitcode})"
            )

    def _fail(self, work: Any, why: str) -> None:
        name, _ = self._call_of(work)
        self._done(work, False, f"Activity function '{name}' failed: {why}", "")

    def shutdown(self) -> None:
        """Stop every worker: each finishes the activities it is running, then exits. What it
        had not started stays unfinished in the engine (as with the in-process threads)."""
        with self._lock:
            self._closing = True
            workers = list(self._workers)
        for worker in workers:
            try:
                with worker.send_lock:
                    worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in workers:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            if worker.reader is not None:
                worker.reader.join(timeout=5)  # the results sent before it exited delivered
