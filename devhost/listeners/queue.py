"""Azure Storage queue triggers, polled through the real azure-storage-queue SDK.

Behaviour follows the WebJobs QueueListener/QueueProcessor and host.json `extensions.queues`:
- messages are fetched `batchSize` at a time and a new batch is fetched when the number still
  running drops to `newBatchThreshold`; an empty queue backs off exponentially up to
  `maxPollingInterval`;
- each fetched message is leased (invisible) while its function runs, and the lease is renewed
  at half-life, so a host killed mid-batch loses nothing: the messages reappear when the lease
  runs out, with their dequeue count raised;
- success deletes the message; failure makes it visible again after `visibilityTimeout`, and
  once it has been dequeued `maxDequeueCount` times it moves to `<queue>-poison`;
- messages are base64 (`messageEncoding`); one that does not decode goes straight to poison.

On a virtual clock the poller is also asked before each jump whether its queue has a message
waiting (`waiting()`, a peek): if so the clock stays put and the poller fetches at once, so a
message an activity has just sent is handled at the time it was sent, not after a jump of
days it would never have waited in Azure (where the poller backs off at most
`maxPollingInterval` of real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.functions import meta
from azure.storage.queue import QueueMessage as SdkMessage
from azure.storage.queue.aio import QueueClient

from devhost.listeners.invoke import converter, name_of, trigger_of
from devhost.settings import QueueOptions

log = logging.getLogger("devhost.queue")

# WebJobs leases a message for 10 minutes and renews the lease while the function runs.
DEFAULT_LEASE = timedelta(minutes=10)
MIN_POLL_S = 0.1

InvokeFn = Callable[[func.Function, Any], Awaitable[object]]


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def queue_message(msg: SdkMessage, body: bytes) -> func.QueueMessage:
    """The func.QueueMessage the worker builds from the host's body and trigger metadata."""
    try:
        datum = meta.Datum(body.decode("utf-8"), "string")
    except UnicodeDecodeError:
        datum = meta.Datum(body, "bytes")
    metadata = {
        "Id": meta.Datum(msg.id, "string"),
        "DequeueCount": meta.Datum(str(msg.dequeue_count), "string"),
        "ExpirationTime": meta.Datum(_iso(msg.expires_on), "string"),
        "InsertionTime": meta.Datum(_iso(msg.inserted_on), "string"),
        "NextVisibleTime": meta.Datum(_iso(msg.next_visible_on), "string"),
        "PopReceipt": meta.Datum(msg.pop_receipt, "string"),
    }
    message: func.QueueMessage = converter("queueTrigger").decode(datum, trigger_metadata=metadata)
    return message


def trigger_argument(fn: func.Function, message: func.QueueMessage) -> Any:
    """`str` and `bytes` parameters get the body; anything else the QueueMessage."""
    annotation = fn.get_user_function().__annotations__.get(trigger_of(fn).name)
    if annotation in (str, "str"):
        return message.get_body().decode("utf-8")
    if annotation in (bytes, "bytes"):
        return message.get_body()
    return message


class QueuePoller:
    """Feeds one queue-triggered function from its queue until cancelled."""

    def __init__(
        self,
        fn: func.Function,
        queue: QueueClient,
        poison: QueueClient,
        options: QueueOptions,
        invoke: InvokeFn,
        decode: Callable[[str], bytes],
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.fn = fn
        self.name = name_of(fn)
        self._queue = queue
        self._poison = poison
        self._options = options
        self._invoke = invoke
        self._decode = decode
        self._lease = lease
        self._running: set[asyncio.Task[None]] = set()
        self._room = asyncio.Condition()
        self._draining = asyncio.Event()
        self._kicked = asyncio.Event()
        self._drain_timeout_s = 0.0

    async def run(self) -> None:
        """Poll until `drain()` or cancellation. Cancelling abandons running messages (their
        leases run out and they come back); `drain()` lets them finish first."""
        delay = MIN_POLL_S
        max_delay = max(MIN_POLL_S, self._options.max_polling_interval.total_seconds())
        ready = False
        try:
            while not self._draining.is_set():
                await self._wait_for_room()
                if self._draining.is_set():
                    break
                try:
                    if not ready:
                        await _ensure_queue(self._queue)
                        ready = True
                    got = await self._fetch()
                except Exception as exc:
                    # Storage unreachable or refusing: say so and keep trying, as the host's
                    # listener does, instead of dying quietly.
                    log.error("queue listener for %s: %s; retrying", self.name, exc)
                    got = 0
                    delay = max_delay
                if got:
                    delay = MIN_POLL_S
                    continue
                await self._back_off(delay)
                delay = MIN_POLL_S if self._kicked.is_set() else min(delay * 2, max_delay)
                self._kicked.clear()
            if self._running:
                await asyncio.wait(set(self._running), timeout=self._drain_timeout_s)
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _back_off(self, delay: float) -> None:
        """Sleep `delay`, or less when draining starts or `waiting()` found a message."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self._draining, self._kicked)]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def waiting(self) -> bool:
        """Whether a message is visible on the queue now; if so, the poller fetches at once
        instead of finishing its back-off. A storage error answers False (time may move)."""
        if self._draining.is_set():
            return False
        try:
            peeked = await self._queue.peek_messages(max_messages=1)
        except Exception as exc:
            log.debug("queue %s: peek failed: %s", self.name, exc)
            return False
        if peeked:
            self._kicked.set()
        return bool(peeked)

    def drain(self, timeout_s: float) -> None:
        """Stop fetching; `run()` returns once running messages finish (or after timeout_s)."""
        self._drain_timeout_s = timeout_s
        self._draining.set()

        async def wake() -> None:
            async with self._room:
                self._room.notify_all()

        asyncio.get_running_loop().create_task(wake())

    async def _wait_for_room(self) -> None:
        async with self._room:
            await self._room.wait_for(
                lambda: (
                    self._draining.is_set()
                    or len(self._running) <= self._options.new_batch_threshold
                )
            )

    async def _fetch(self) -> int:
        pager = self._queue.receive_messages(
            messages_per_page=self._options.batch_size,
            max_messages=self._options.batch_size,
            visibility_timeout=int(self._lease.total_seconds()),
        )
        count = 0
        async for msg in pager:
            count += 1
            task = asyncio.create_task(self._process(msg))
            self._running.add(task)
            task.add_done_callback(self._finished)
        return count

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)

        async def notify() -> None:
            async with self._room:
                self._room.notify_all()

        if not task.cancelled():
            asyncio.get_running_loop().create_task(notify())

    async def _process(self, msg: SdkMessage) -> None:
        try:
            await self._handle(msg)
        except Exception as exc:
            # A storage call failed after the function ran (say the lease was lost): the
            # message reappears when its lease runs out, so it is retried, never lost.
            log.warning("queue %s: message %s left for retry: %s", self.name, msg.id, exc)

    async def _handle(self, msg: SdkMessage) -> None:
        max_dequeue = self._options.max_dequeue_count
        dequeued = msg.dequeue_count or 1
        if dequeued > max_dequeue:
            # Dequeued past the limit without a recorded failure: the host died processing it.
            await self._to_poison(msg, "dequeued more than maxDequeueCount times")
            return
        try:
            body = self._decode(msg.content)
        except ValueError as exc:
            await self._to_poison(msg, str(exc))
            return
        done = asyncio.Event()
        renewer = asyncio.create_task(self._keep_lease(msg, done))
        try:
            arg = trigger_argument(self.fn, queue_message(msg, body))
            await self._invoke(self.fn, arg)
        except Exception:
            log.exception(
                "queue function %s failed on message %s (dequeue count %d)",
                self.name,
                msg.id,
                dequeued,
            )
            failed = True
        else:
            failed = False
        finally:
            # Let an in-flight renewal finish: it carries the pop receipt the next call needs.
            done.set()
            await renewer
        if not failed:
            await self._queue.delete_message(msg, pop_receipt=msg.pop_receipt)
        elif dequeued >= max_dequeue:
            await self._to_poison(msg, f"failed {dequeued} times")
        else:
            await self._queue.update_message(
                msg,
                pop_receipt=msg.pop_receipt,
                visibility_timeout=int(self._options.visibility_timeout.total_seconds()),
            )

    async def _keep_lease(self, msg: SdkMessage, done: asyncio.Event) -> None:
        """Renew the lease at half-life until `done`; each renewal brings a new pop receipt."""
        half = self._lease.total_seconds() / 2
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), half)
            if done.is_set():
                return
            try:
                updated = await self._queue.update_message(
                    msg,
                    pop_receipt=msg.pop_receipt,
                    visibility_timeout=int(self._lease.total_seconds()),
                )
            except Exception as exc:
                log.warning("queue %s: could not renew the lease of %s: %s", self.name, msg.id, exc)
                return
            msg.pop_receipt = updated.pop_receipt
            msg.next_visible_on = updated.next_visible_on

    async def _to_poison(self, msg: SdkMessage, why: str) -> None:
        await _ensure_queue(self._poison)
        # The original content moves unchanged (still encoded), as the host copies it.
        await self._poison.send_message(msg.content)
        await self._queue.delete_message(msg, pop_receipt=msg.pop_receipt)
        log.warning(
            "message %s on %s moved to %s: %s",
            msg.id,
            self._queue.queue_name,
            self._poison.queue_name,
            why,
        )


async def _ensure_queue(queue: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        await queue.create_queue()
