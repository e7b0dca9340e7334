"""One HTTP exchange with Partner Center, with Microsoft's retry rules applied.

The client runs inside Durable activities. An activity that sleeps holds a Functions
worker and bills idle time, and the house rules (docs/architecture.md) put every long wait
on a durable timer. So this transport waits only briefly, within fixed budgets, and
otherwise raises a typed `RetryableError` at once; the orchestrator's
`call_activity_with_retry` carries the long waits, and the retried activity sends the same
`MS-RequestId`, which Partner Center replays instead of writing twice. Python's
`RetryOptions` sends only a first interval and a number of attempts (a fixed interval; see
`RetryOptions.to_json` in azure-functions-durable), so a step that may meet renewal
processing needs e.g. RetryOptions(300_000, 300): every 5 minutes for 25 h, outlasting the
24 h Microsoft allows. An activity that wants the exact `retry_after_s` catches the error
and returns it as a typed outcome for the orchestrator's durable timer.

- 429: wait `Retry-After` (or the exact `retry-after-ms` / `x-ms-retry-after-ms` when
  given, as azure-core does), then retry with the same `MS-RequestId`; a repeated 429 on
  the same call doubles the wait (honour Retry-After, then back off exponentially:
  https://learn.microsoft.com/en-us/partner-center/developer/api-throttling-guidance).
  A wait is never shorter than advertised. When the next wait does not fit the budget
  (below) or after `max_throttle_retries`, ThrottledError carries the wait instead.
- 409 800082 (renewal processing; up to 24 h after the term's last day, "wait about 2
  minutes and resubmit", docs/rules.md#renewal-processing): RenewalProcessingError at once,
  `retry_after_s` = `renewal_retry_after_s`. Sleeping on it in-process could hold a worker
  for a day.
- 409 800060/800064 (cart or order being processed: brief): a short in-client wait,
  `conflict_wait_s` doubling, `max_conflict_retries` times (2 + 4 + 8 = 14 s at most by
  default), then RetryableError.
- 5xx, timeouts and connection errors: RetryableError at once.
- other 4xx: BusinessError with Microsoft's code (NotFoundError for 404).

Every wait of one client method (429s, busy orders, 202 + Location polls, across all the
HTTP calls the method makes) draws on one budget, `wait_budget_s` (30 s by default):
`Transport.operation()` opens it, per thread, and a wait that does not fit raises instead
of sleeping. So one activity never sleeps longer than that in total.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from shared.partner_center.errors import (
    CART_OR_ORDER_PROCESSING,
    NOT_READY_RENEWING,
    AuthError,
    BusinessError,
    NotFoundError,
    RenewalProcessingError,
    RetryableError,
    ThrottledError,
)

LOG = logging.getLogger(__name__)
Sleeper = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call may wait inside an activity before it hands the wait to the
    orchestrator (see the module docstring)."""

    max_throttle_retries: int = 10
    default_retry_after_s: float = 1.0
    max_wait_s: float = 30.0  # cap on the exponential backoff, never below Retry-After
    max_conflict_retries: int = 3  # cart/order processing (800060/800064) only
    conflict_wait_s: float = 2.0  # first wait, doubled on each repeat
    # "Wait about 2 minutes and resubmit" (docs/rules.md#renewal-processing).
    renewal_retry_after_s: float = 120.0
    wait_budget_s: float = 30.0  # every wait of one client method together
    jitter: float = 0.1  # up to +10% on each throttle wait, never less than advertised


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any
    raw: bytes = b""


# Seconds of waiting left to the client method running on this thread (None outside one).
_BUDGET: ContextVar[list[float] | None] = ContextVar("partner_center_wait_budget", default=None)


@dataclass
class Transport:
    session: requests.Session
    timeout_s: float
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleeper = time.sleep
    application: str = "cspflow"

    @contextmanager
    def operation(self) -> Iterator[None]:
        """One client method: its waits share one `wait_budget_s`. Nested operations (a
        method calling another, each call below) use the outermost one's budget."""
        if _BUDGET.get() is not None:
            yield
            return
        token = _BUDGET.set([self.policy.wait_budget_s])
        try:
            yield
        finally:
            _BUDGET.reset(token)

    def pause(self, seconds: float) -> bool:
        """Sleep `seconds` if the operation's budget still holds them, else False at once."""
        left = _BUDGET.get()
        if left is None:
            raise RuntimeError("Transport.pause outside an operation")
        if seconds > left[0]:
            return False
        left[0] -= seconds
        self.sleep(seconds)
        return True

    def call(
        self,
        method: str,
        url: str,
        token: Callable[[], str],
        *,
        body: Any = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        refresh_token: Callable[[], None] | None = None,
    ) -> Reply:
        """Send one logical request (retrying as above) and return the final reply.

        A 401 is retried once after `refresh_token` drops cached tokens (the signing key
        rolled over, the token was revoked); a second 401 is an AuthError.
        """
        with self.operation():
            return self._send(
                method,
                url,
                token,
                body=body,
                request_id=request_id,
                correlation_id=correlation_id,
                headers=headers,
                ok=ok,
                refresh_token=refresh_token,
            )

    def _send(
        self,
        method: str,
        url: str,
        token: Callable[[], str],
        *,
        body: Any,
        request_id: str | None,
        correlation_id: str | None,
        headers: Mapping[str, str] | None,
        ok: tuple[int, ...],
        refresh_token: Callable[[], None] | None,
    ) -> Reply:
        request_id = request_id or str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        data = None if body is None else json.dumps(body, default=_json_default).encode()
        throttled = conflicts = 0
        refreshed = refresh_token is None
        while True:
            sent = {
                "Authorization": f"Bearer {token()}",
                "Accept": "application/json",
                "MS-RequestId": request_id,
                "MS-CorrelationId": correlation_id,
                "MS-Contract-Version": "v1",
                "MS-PartnerCenter-Application": self.application,
                "X-Locale": "en-US",
                **(headers or {}),
            }
            if data is not None:
                sent["Content-Type"] = "application/json"
            try:
                resp = self.session.request(
                    method, url, data=data, headers=sent, timeout=self.timeout_s
                )
            except requests.Timeout as exc:
                raise RetryableError(f"{method} {url} timed out: {exc}") from exc
            except requests.ConnectionError as exc:
                raise RetryableError(f"{method} {url} could not connect: {exc}") from exc
            except requests.RequestException as exc:  # a broken response stream, etc.
                raise RetryableError(f"{method} {url} failed: {exc}") from exc
            reply = Reply(resp.status_code, resp.headers, _parse(resp.content), resp.content)
            if resp.status_code == 429:
                throttled += 1
                wait = self.throttle_wait(resp.headers, throttled)
                LOG.info("429 on %s %s (try %d): Retry-After %.3fs", method, url, throttled, wait)
                if throttled > self.policy.max_throttle_retries or not self.pause(wait):
                    raise ThrottledError(
                        f"{method} {url} still throttled after {throttled} tries",
                        429,
                        retry_after_s=wait,
                    )
                continue
            if resp.status_code == 409 and _code(reply.body) == NOT_READY_RENEWING:
                raise RenewalProcessingError(
                    f"{method} {url}: {_description(reply.body)} (renewal processing)",
                    409,
                    retry_after_s=self.policy.renewal_retry_after_s,
                )
            if resp.status_code == 409 and _code(reply.body) in CART_OR_ORDER_PROCESSING:
                wait = self.policy.conflict_wait_s * 2.0**conflicts
                conflicts += 1
                if conflicts > self.policy.max_conflict_retries or not self.pause(wait):
                    raise RetryableError(
                        f"{method} {url}: {_description(reply.body)} (still processing)",
                        409,
                        retry_after_s=wait,
                    )
                continue
            if resp.status_code >= 500:
                raise RetryableError(
                    f"{method} {url} failed with {resp.status_code}: {_description(reply.body)}",
                    resp.status_code,
                )
            if resp.status_code == 401 and not refreshed and refresh_token is not None:
                refreshed = True
                refresh_token()
                continue
            if resp.status_code == 401:
                raise AuthError(f"{method} {url} was refused: {_description(reply.body)}")
            if resp.status_code in ok:
                return reply
            error = NotFoundError if resp.status_code == 404 else BusinessError
            raise error(resp.status_code, _code(reply.body), _description(reply.body), request_id)

    def throttle_wait(self, headers: Mapping[str, str], attempt: int) -> float:
        advertised = retry_after_s(headers)
        base = advertised if advertised is not None else self.policy.default_retry_after_s
        # The backoff grows up to max_wait_s, but never below what the server advertised:
        # an early retry only counts against the limit again (Microsoft Learn,
        # api-throttling-guidance).
        wait: float = max(base, min(self.policy.max_wait_s, base * 2.0 ** (attempt - 1)))
        return wait + random.uniform(0, self.policy.jitter * wait)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The advertised wait in seconds: the millisecond headers when present (exact),
    else Retry-After in whole seconds (Partner Center sends seconds: Microsoft Learn,
    api-throttling-guidance)."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                continue
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: Partner Center does not send one; use the default
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _parse(content: bytes) -> Any:
    if not content:
        return None
    try:
        # Prices and amounts arrive as JSON numbers: read them as Decimal, never float.
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        return content.decode("utf-8", "replace")


def _code(body: Any) -> str:
    if isinstance(body, dict):
        code = body.get("code", body.get("statusCode", ""))
        if isinstance(body.get("error"), dict):
            code = body["error"].get("code", code)
        return str(code)
    return ""


def _description(body: Any) -> str:
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("message", ""))
        return str(body.get("description") or body.get("message") or "")
    return str(body or "")[:200]


def _json_default(value: object) -> object:
    # Resources read back for a full PATCH may hold Decimals; write them as JSON numbers
    # only when that is exact.
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        if Decimal(repr(float(value))) == value:
            return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
