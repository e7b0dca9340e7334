"""The threads that run activity functions for the engine.

A fixed set of threads (host.json `maxConcurrentActivityFunctions`) taking work from one
queue. Not `concurrent.futures.ThreadPoolExecutor`: the engine needs no `Future` per
activity (results come back through its own completion queue), and a Future, its work item
and their condition variables cost about as much as running a small activity; a fan-out of
hundreds pays that on the engine's thread for every dispatch.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("devhost.engine")

T = TypeVar("T")


class ActivityPool(Generic[T]):
    """`size` daemon threads calling `run(item)` for every submitted item, picked up in the
    order submitted. `shutdown()` drops what is still queued and waits for the running calls
    to return."""

    def __init__(self, size: int, run: Callable[[T], None], *, name: str) -> None:
        if size < 1:
            raise ValueError(f"an activity pool needs at least one thread, not {size}")
        self._run = run
        self._queue: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}_{n}", daemon=True)
            for n in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, item: T) -> None:
        self._queue.put(item)

    def shutdown(self) -> None:
        # Queued items are dropped: the engine still holds them as unfinished work (in
        # memory and in SQLite) and dispatches them again when it starts.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._run(item)
            except BaseException:
                # `run` reports activity failures itself; anything escaping it is a host
                # bug, logged, and the thread keeps serving (the item stays unfinished).
                log.exception("devhost activity thread: unexpected error")
