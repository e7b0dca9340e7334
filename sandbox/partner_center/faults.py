"""Throttling and faults on demand.

Throttling follows Microsoft's description
(https://learn.microsoft.com/en-us/partner-center/developer/api-throttling-guidance): a 429 with `Retry-After` in seconds,
limits per partner tenant or per partner + customer tenant, and every request (retries
included) counting against the limit. Two extras make tests fast and strict:

- `retry_after_ms` lets the advertised wait be shorter than a second. The header
  `Retry-After` still carries whole seconds (rounded up); `retry-after-ms` and
  `x-ms-retry-after-ms` carry the exact value, the Azure headers that azure-core honours.
- a retry that arrives (same `MS-RequestId`) before the advertised wait has passed is
  counted as an early retry and throttled again, so a test can prove the client waited.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    throttle_rate: float = 0.0
    retry_after_ms: int = 1000
    rate_limit_per_minute: int = 0  # 0 = no per-tenant limit
    fail_5xx_rate: float = 0.0
    fail_next: int = 0  # the next N API requests answer fail_status without being processed
    fail_status: int = 503
    lose_next: int = 0  # the next N writes are processed, then answer 500 (a lost response)
    slow_patch_ms: int = 0  # > 0: subscription PATCHes answer 202 + Location, applied later
    delay_next_ms: int = 0  # the next request is held this long before it is answered
    # Every API request is held this long before it is answered: Partner Center's own time
    # (its API answers in hundreds of milliseconds, not the sandbox's few), for benchmarks.
    latency_ms: int = 0
    processing_next: int = 0  # the next N writes answer 409 800060 (order being processed)
    renewing_next: int = 0  # the next N writes answer 409 800082 (renewal being processed)

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown fault option {name!r}")
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            setattr(self, name, type(getattr(self, name))(value))


@dataclass
class Stats:
    requests: int = 0
    throttled: int = 0
    early_retries: int = 0
    writes: int = 0
    replays: int = 0
    failed: int = 0


@dataclass
class Throttle:
    faults: Faults
    seed: int | None = None
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._not_before: dict[str, float] = {}

    def check(self, key: str, request_id: str | None) -> int | None:
        """None to proceed, or the milliseconds to advertise in a 429."""
        now = time.monotonic()
        with self._lock:
            self.stats.requests += 1
            if request_id is not None:
                not_before = self._not_before.pop(request_id, None)
                if not_before is not None and now < not_before:
                    self.stats.early_retries += 1
                    return self._throttled(request_id, now, math.ceil((not_before - now) * 1000))
            limit = self.faults.rate_limit_per_minute
            if limit:
                window = self._windows.setdefault(key, deque())
                while window and window[0] <= now - 60:
                    window.popleft()
                window.append(now)
                if len(window) > limit:
                    return self._throttled(
                        request_id, now, math.ceil((window[0] + 60 - now) * 1000)
                    )
            if self._random.random() < self.faults.throttle_rate:
                return self._throttled(request_id, now, self.faults.retry_after_ms)
            return None

    def _throttled(self, request_id: str | None, now: float, wait_ms: int) -> int:
        self.stats.throttled += 1
        if request_id is not None:
            self._not_before[request_id] = now + wait_ms / 1000
        return wait_ms

    def should_fail(self) -> int | None:
        with self._lock:
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                self.stats.failed += 1
                return self.faults.fail_status
            if self._random.random() < self.faults.fail_5xx_rate:
                self.stats.failed += 1
                return 503
            return None

    def should_lose(self) -> bool:
        with self._lock:
            if self.faults.lose_next > 0:
                self.faults.lose_next -= 1
                return True
            return False

    def should_conflict(self) -> bool:
        with self._lock:
            if self.faults.processing_next > 0:
                self.faults.processing_next -= 1
                return True
            return False

    def should_be_renewing(self) -> bool:
        with self._lock:
            if self.faults.renewing_next > 0:
                self.faults.renewing_next -= 1
                return True
            return False

    def take_delay_ms(self) -> int:
        with self._lock:
            delay, self.faults.delay_next_ms = self.faults.delay_next_ms, 0
            return delay + self.faults.latency_ms


def retry_after_headers(wait_ms: int) -> dict[str, str]:
    return {
        "Retry-After": str(max(0, math.ceil(wait_ms / 1000))),
        "retry-after-ms": str(wait_ms),
        "x-ms-retry-after-ms": str(wait_ms),
    }
