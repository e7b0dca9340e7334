"""Signed webhook delivery with Stripe's retry behaviour, driven by the shared clock.

Stripe: "In live mode, Stripe attempts to deliver a given event to your webhook endpoint for
up to 3 days with an exponential back off. In sandboxes, Stripe retries three times over a
few hours." (https://docs.stripe.com/webhooks#retries). Stripe publishes no intervals, so the
schedules below are ours, inside that envelope. Retry times are virtual: advancing the shared
clock past one makes the attempt happen.

The signature's `t=` is the wall-clock second of the HTTP attempt, not virtual time: it
protects the transport against replay, and the receiver (the SDK's `construct_event`) checks
it against its own `time.time()`. The event's `created` is virtual time.

What Stripe warns endpoints about, on demand and reproducibly (`seed`: which events are
duplicated or held back; when each arrives still depends on when the requests came):
- duplicates: "Webhook endpoints might occasionally receive the same event more than once"
  (https://docs.stripe.com/webhooks#handle-duplicate-events). With `duplicate_rate`, an event
  is sent once more after it was delivered: same event id and object, a fresh signature.
- order: "Stripe doesn't guarantee the delivery of events in the order that they're
  generated" (https://docs.stripe.com/webhooks#event-ordering). With `out_of_order_rate`, an
  event is held back at its first attempt until a later event has been delivered (or
  `hold_max` has passed on the clock), so the later one arrives first.
Both are decided once per event, at its first attempt, in delivery order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import aiohttp
import requests
from stripe import WebhookSignature

from sandbox.common.clock import Clock

from .store import Due, Store

log = logging.getLogger(__name__)

RetryMode = Literal["live", "test"]
_LIVE_FIRST = timedelta(minutes=5)
_LIVE_CAP = timedelta(hours=12)
_LIVE_WINDOW = timedelta(days=3)
_TEST_DELAYS = (timedelta(hours=1), timedelta(hours=2), timedelta(hours=4))
HOLD_MAX = timedelta(minutes=1)  # an event held back with nothing to overtake it: then sent


def next_attempt(
    mode: RetryMode, failed_attempts: int, first_at: datetime, last_at: datetime
) -> datetime | None:
    """When to try again after `failed_attempts` failures, or None to give up.

    live: 5 min after the first failure, doubling, at most 12 h apart, never later than 3 days
    after the first attempt. test: 1 h, 2 h, 4 h after the previous failure, then give up.
    """
    if mode == "test":
        if failed_attempts > len(_TEST_DELAYS):
            return None
        return last_at + _TEST_DELAYS[failed_attempts - 1]
    delay = min(_LIVE_FIRST * 2 ** (failed_attempts - 1), _LIVE_CAP)
    when = last_at + delay
    return when if when <= first_at + _LIVE_WINDOW else None


def sign(payload: str, secrets: Sequence[str]) -> str:
    """`Stripe-Signature: t=<wall-clock now>,v1=...[,v1=...]`, each v1 as the SDK computes it.

    During a secret rotation Stripe signs with every active secret, one `v1` each.
    """
    timestamp = int(time.time())
    signatures = [
        WebhookSignature.generate_signature_header(payload, s, timestamp=timestamp).split(",", 1)[1]
        for s in secrets
    ]
    return ",".join([f"t={timestamp}", *signatures])


class Deliverer:
    """Posts due events to the endpoint, retrying on virtual time."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        secrets: Sequence[str],
        mode: RetryMode = "live",
        timeout_s: float = 10.0,
        poll_s: float = 0.05,
        duplicate_rate: float = 0.0,
        out_of_order_rate: float = 0.0,
        seed: int | None = None,
        hold_max: timedelta = HOLD_MAX,
    ) -> None:
        for name, rate in (
            ("duplicate_rate", duplicate_rate),
            ("out_of_order_rate", out_of_order_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} is between 0 and 1, not {rate}")
        self._store = store
        self._clock = clock
        self._secrets = tuple(secrets)
        self._mode = mode
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._poll_s = poll_s
        self._duplicate_rate = duplicate_rate
        self._out_of_order_rate = out_of_order_rate
        self._random = random.Random(seed)
        self._hold_max = hold_max
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        clock_down = False
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                try:
                    now = await asyncio.to_thread(self._clock.now)
                    clock_down = False
                    for due in self._store.due_deliveries(now.timestamp()):
                        if due.copy:
                            await self._send_copy(session, due)
                        elif due.rolled or not self._held_back(due):
                            await self._deliver(
                                session, due.event_id, due.url, due.attempts, due.first_at
                            )
                    if self._store.release_held(now.timestamp()):
                        self._wake.set()  # overtaken: send them in the next round
                except asyncio.CancelledError:
                    raise
                except requests.RequestException as exc:
                    # A --clock-url clock not answering (devhost still starting): said once,
                    # not a stack trace every round.
                    if not clock_down:
                        log.warning("stripe sandbox: waiting for the clock (%s)", exc)
                    clock_down = True
                except Exception:  # keep delivering: one bad round must not stop webhooks
                    log.exception("webhook round failed")
                self._wake.clear()
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wake.wait()

    def _held_back(self, due: Due) -> bool:
        """Decide, once, whether this event gets a duplicate and whether it waits for a later
        one; True when it waits. Both draws are made for every event, so one seed gives one
        sequence of decisions whatever the rates."""
        duplicate = self._random.random() < self._duplicate_rate
        hold = self._random.random() < self._out_of_order_rate
        hold_until = due.first_at + self._hold_max.total_seconds() if hold else None
        self._store.roll_faults(due.event_id, copies=int(duplicate), hold_until=hold_until)
        return hold

    async def _send_copy(self, session: aiohttp.ClientSession, due: Due) -> None:
        status, error = await self._post(session, due.event_id, due.url)
        self._store.record_copy(due.event_id, status=status, error=error)

    async def _post(
        self, session: aiohttp.ClientSession, event_id: str, url: str
    ) -> tuple[int | None, str | None]:
        evt = self._store.get(event_id)
        if evt is None:
            return None, "no such event"
        payload = json.dumps(evt, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, self._secrets),
        }
        try:
            async with session.post(url, data=payload.encode(), headers=headers) as resp:
                await resp.read()
                return resp.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def _deliver(
        self,
        session: aiohttp.ClientSession,
        event_id: str,
        url: str,
        attempts: int,
        first_at: float,
    ) -> None:
        if self._store.get(event_id) is None:
            return
        status, error = await self._post(session, event_id, url)
        now = await asyncio.to_thread(self._clock.now)
        if status is not None and 200 <= status < 300:
            self._store.record_attempt(
                event_id, state="delivered", next_at=None, status=status, error=None
            )
            evt = self._store.get(event_id)
            if evt is not None:
                evt["pending_webhooks"] = 0
                self._store.save(evt)
            return
        first = datetime.fromtimestamp(first_at, UTC)
        retry_at = next_attempt(self._mode, attempts + 1, first, now)
        self._store.record_attempt(
            event_id,
            state="pending" if retry_at else "failed",
            next_at=retry_at.timestamp() if retry_at else None,
            status=status,
            error=error or f"HTTP {status}",
        )
